import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../context.ts';
import type { GatewayMetrics } from './index.ts';

/** Count every response by route pattern (bounded label set), method and status; time it (what a canary is judged by); feed the admin status's rates. */
export function httpMetrics(metrics: GatewayMetrics): MiddlewareHandler<GatewayEnv> {
  const counter = metrics.requests;
  return async function httpMetrics(c, next) {
    const start = performance.now();
    await next();
    // Hono runs onError inside `next`, so c.res is the final response here, errors included.
    const status = c.res.status;
    const route = status === 404 && c.req.routePath === '/*' ? 'unmatched' : c.req.routePath;
    const method = c.req.method;
    counter.inc({ route, method, status });
    metrics.latency.observe({ route, method }, (performance.now() - start) / 1000);
    if (status < 300 && (route.startsWith('/v1/tables') || route === '/v1/batch')) (method === 'GET' ? metrics.readRate : metrics.writeRate).mark();
  };
}

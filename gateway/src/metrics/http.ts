import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../context.ts';
import type { GatewayMetrics } from './index.ts';

/** Count every response by route pattern (bounded label set), method and status; time it. */
export function httpMetrics(metrics: GatewayMetrics): MiddlewareHandler<GatewayEnv> {
  const counter = metrics.requests;
  const seconds = metrics.requestSeconds;
  return async function httpMetrics(c, next) {
    const t0 = performance.now();
    await next();
    seconds.observe((performance.now() - t0) / 1000);
    // Hono runs onError inside `next`, so c.res is the final response here, errors included.
    const status = c.res.status;
    counter.inc({ route: status === 404 && c.req.routePath === '/*' ? 'unmatched' : c.req.routePath, method: c.req.method, status });
  };
}

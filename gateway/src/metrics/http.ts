import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../context.ts';
import type { GatewayMetrics } from './index.ts';

/** Count every response by route pattern (bounded label set), method and status. */
export function httpMetrics(metrics: GatewayMetrics): MiddlewareHandler<GatewayEnv> {
  const counter = metrics.requests;
  return async function httpMetrics(c, next) {
    await next();
    // Hono runs onError inside `next`, so c.res is the final response here, errors included.
    const status = c.res.status;
    counter.inc({ route: status === 404 && c.req.routePath === '/*' ? 'unmatched' : c.req.routePath, method: c.req.method, status });
  };
}

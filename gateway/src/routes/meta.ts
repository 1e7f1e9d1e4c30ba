import type { Hono } from 'hono';
import { ForbiddenError } from '@sluice/shared/errors/index.ts';
import type { GatewayEnv } from '../context.ts';

const NOT_ADMIN = new ForbiddenError('/metrics needs the admin scope');
import type { GatewayMetrics } from '../metrics/index.ts';

/** GET /metrics (Prometheus text format) and GET /openapi.json (built at its first request, then kept). */
export function metaRoutes(app: Hono<GatewayEnv>, d: { metrics: GatewayMetrics; openapi: () => object }): void {
  let openapi: string | undefined;
  app.get('/metrics', async function metrics(c) {
    if (!c.get('principal').admin) throw NOT_ADMIN;
    const text = await d.metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': d.metrics.registry.contentType });
  });
  app.get('/openapi.json', function openapiJson(c) {
    openapi ??= JSON.stringify(d.openapi());
    return c.body(openapi, 200, { 'Content-Type': 'application/json' });
  });
}

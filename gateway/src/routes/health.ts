import type { Hono } from 'hono';
import { AppError } from '@sluice/shared/errors/index.ts';
import type { GatewayEnv } from '../context.ts';
import { problemResponse } from '../middleware/errors/index.ts';
import type { ReadinessCheck } from '../status/readiness.ts';

/** What the health routes need. */
export interface HealthRouteDeps {
  readiness: ReadinessCheck;
  nodeId: string;
  /** Non-secret knobs shown by /readyz. */
  knobs: Record<string, unknown>;
}

/** GET /healthz (the process answers) and GET /readyz (it can take writes now). */
export function healthRoutes(app: Hono<GatewayEnv>, d: HealthRouteDeps): void {
  app.get('/healthz', function healthz(c) {
    return c.json({ status: 'ok', node: d.nodeId });
  });
  app.get('/readyz', async function readyz(c) {
    const r = await d.readiness.get();
    if (r.ready) return c.json({ status: 'ready', node: d.nodeId, ...r, knobs: d.knobs });
    const problem = new AppError(503, 'https://sluice.dev/problems/not-ready', 'Not ready', 'this gateway cannot take writes right now', { node: d.nodeId, checks: r.checks, details: r.details, checkedAt: r.checkedAt, knobs: d.knobs }, { 'Retry-After': '1' });
    return problemResponse(c, problem);
  });
}

import type { Hono } from 'hono';
import { AppError } from '@sluice/shared/errors/index.ts';
import type { Ctx, GatewayEnv } from '../context.ts';
import { problemResponse } from '../middleware/errors/index.ts';
import type { Liveness, NotLive } from '../status/liveness.ts';
import type { ReadinessCheck } from '../status/readiness.ts';

/** What the health routes need. */
export interface HealthRouteDeps {
  readiness: ReadinessCheck;
  liveness: Liveness;
  nodeId: string;
  /** Non-secret knobs shown by /readyz. */
  knobs: Record<string, unknown>;
}

const RETRY = { 'Retry-After': '1' };

/** The 503 problem of a gateway the load balancer should skip. */
function notLive(c: Ctx, nodeId: string, why: NotLive): Response {
  if (why.reason === 'draining') {
    return problemResponse(c, new AppError(503, 'https://sluice.dev/problems/draining', 'Draining', 'this gateway is shutting down; send new requests to another node', { node: nodeId }, RETRY));
  }
  return problemResponse(c, new AppError(503, 'https://sluice.dev/problems/not-live', 'Not live', `this gateway cannot accept writes: ${why.detail}`, { node: nodeId }, RETRY));
}

/**
 * GET /healthz (the process answers), GET /livez (the load balancer's check:
 * this node can accept writes; see status/liveness.ts) and GET /readyz (the
 * deep check for humans: Redis, Postgres, backlog). Both /livez and /readyz
 * answer 503 "draining" from the first SIGTERM on.
 */
export function healthRoutes(app: Hono<GatewayEnv>, d: HealthRouteDeps): void {
  app.get('/healthz', function healthz(c) {
    return c.json({ status: 'ok', node: d.nodeId });
  });
  app.get('/livez', function livez(c) {
    const why = d.liveness.check();
    return why === undefined ? c.json({ status: 'live', node: d.nodeId }) : notLive(c, d.nodeId, why);
  });
  app.get('/readyz', async function readyz(c) {
    if (d.liveness.draining) return notLive(c, d.nodeId, { reason: 'draining' });
    const r = await d.readiness.get();
    // Settings and raw dependency errors only for the admin scope (anyone, with auth off).
    const admin = c.get('principal').admin;
    if (r.ready) return c.json(admin ? { status: 'ready', node: d.nodeId, ...r, knobs: d.knobs } : { status: 'ready', node: d.nodeId, ready: true, checkedAt: r.checkedAt });
    const more = admin ? { checks: r.checks, details: r.details, knobs: d.knobs } : {};
    const problem = new AppError(503, 'https://sluice.dev/problems/not-ready', 'Not ready', 'this gateway cannot take writes right now', { node: d.nodeId, checkedAt: r.checkedAt, ...more }, RETRY);
    return problemResponse(c, problem);
  });
}

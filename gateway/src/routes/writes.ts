import type { Hono } from 'hono';
import { ForbiddenError, NotFoundError } from '@sluice/shared/errors/index.ts';
import { setHeader, type Ctx, type GatewayEnv } from '../context.ts';
import { lookupWriteStatus, type StatusSources } from '../status/lookup.ts';

/** What the status route needs. */
export type WritesRouteDeps = StatusSources;

const NO_SCOPE = new ForbiddenError('reading write statuses needs a read or write scope');

/** GET /v1/writes/{writeId}: queued, committed (with token and time) or dead (with SQLSTATE and message). */
function getWrite(d: WritesRouteDeps) {
  return async function getWrite(c: Ctx): Promise<Response> {
    const p = c.get('principal');
    if (!p.hasDataScope && !p.admin) throw NO_SCOPE;
    const writeId = c.req.param('writeId') ?? '';
    const status = await lookupWriteStatus(d, writeId);
    if (status === null) throw new NotFoundError('no such write (unknown id, or finished long ago and no longer tracked)');
    if (status.status === 'committed') setHeader(c, 'Sluice-Consistency-Token', status.token);
    return c.json(status, 200);
  };
}

/** Mount GET /v1/writes/{writeId}. */
export function writeStatusRoutes(app: Hono<GatewayEnv>, d: WritesRouteDeps): void {
  app.get('/v1/writes/:writeId', getWrite(d));
}

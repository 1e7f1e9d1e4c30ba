import type { Hono } from 'hono';
import { ForbiddenError, NotFoundError } from '@sluice/shared/errors/index.ts';
import { ownedBy } from '@sluice/shared/queue/ids.ts';
import { setHeader, type Ctx, type GatewayEnv } from '../context.ts';
import { lookupWriteStatus, type StatusSources } from '../status/lookup.ts';

/** What the status route needs. */
export interface WritesRouteDeps extends StatusSources {
  /** SLUICE_DEDUPE_RETENTION_S: how long a committed write's status is kept after its commit. */
  retentionS: number;
  /** Key of writeIds' owner tags (queue/ids.ts). */
  secret: string;
  /** Auth is on: a status is shown only to the principal whose tag its writeId carries (or an admin). */
  authOn: boolean;
}

const NO_SCOPE = new ForbiddenError('reading write statuses needs a read or write scope');

/** GET /v1/writes/{writeId}: queued, committed (with token and time) or dead (with SQLSTATE and message). */
function getWrite(d: WritesRouteDeps) {
  return async function getWrite(c: Ctx): Promise<Response> {
    const p = c.get('principal');
    if (!p.hasDataScope && !p.admin) throw NO_SCOPE;
    const writeId = c.req.param('writeId') ?? '';
    // Someone else's write is "no such write", without a query: not even its existence is told.
    const mine = !d.authOn || p.admin || ownedBy(d.secret, p.id, writeId);
    const status = mine ? await lookupWriteStatus(d, writeId) : null;
    if (status === null) throw new NotFoundError(`no such write (unknown id, or committed more than ${d.retentionS} s ago: statuses are kept for SLUICE_DEDUPE_RETENTION_S)`);
    if (status.status !== 'committed') return c.json(status, 200);
    setHeader(c, 'Sluice-Consistency-Token', status.token);
    // Retention removes the record this status is read from after the window (writer/src/retention).
    const retainedUntil = new Date(Date.parse(status.committedAt) + d.retentionS * 1000).toISOString();
    return c.json({ ...status, retainedUntil }, 200);
  };
}

/** Mount GET /v1/writes/{writeId}. */
export function writeStatusRoutes(app: Hono<GatewayEnv>, d: WritesRouteDeps): void {
  app.get('/v1/writes/:writeId', getWrite(d));
}

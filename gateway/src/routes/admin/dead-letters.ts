import type { Hono } from 'hono';
import { AppError, NotFoundError, ValidationError } from '@sluice/shared/errors/index.ts';
import { type TableValidator } from '@sluice/shared/catalog/validate.ts';
import { type WriteOp } from '@sluice/shared/queue/contract.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';
import { requestHash } from '../../enqueue/idempotency.ts';
import type { WriteService } from '../../enqueue/service.ts';
import { sendResult } from '../respond.ts';
import { ackModeOf } from '../write-headers.ts';
import type { DeadLetterState, DeadLetterStore } from '@sluice/shared/sql/dead-letter-admin.ts';

/** What the dead-letter routes need. */
export interface DeadLetterRouteDeps {
  store: DeadLetterStore;
  /** The gateway's write path: a replay is enqueued like any write. */
  service: WriteService;
  /** Validators by table: the routing key of a replayed row. */
  validators: ReadonlyMap<string, TableValidator>;
}

/**
 * Idempotency scope of replays: one for every admin key, so two operators
 * replaying the same dead letter still replay it once. It cannot collide with
 * an API key's scope (a 16-hex-digit digest, or "anonymous").
 */
export const REPLAY_SCOPE = 'sluice:replay';

const STATES = new Set<DeadLetterState>(['pending', 'replayed', 'discarded', 'all']);
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

function badQuery(name: string, detail: string): ValidationError {
  return new ValidationError(`invalid query parameter ${name}`, [{ pointer: `/${name}`, detail }]);
}

function intParam(c: Ctx, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,16}$/.test(v) || Number(v) < 1 || Number(v) > max) throw badQuery(name, `must be an integer from 1 to ${max}`);
  return Number(v);
}

function timeParam(c: Ctx, name: string): Date | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw badQuery(name, 'must be an ISO 8601 time, e.g. 2025-01-31T12:00:00Z');
  return d;
}

function idParam(c: Ctx): number {
  const v = c.req.param('id') ?? '';
  if (!/^\d{1,16}$/.test(v)) throw new NotFoundError('no such dead letter');
  return Number(v);
}

/** GET /v1/admin/dead-letters?table=&sqlstate=&since=&until=&state=&limit=&after= */
function listDeadLetters(d: DeadLetterRouteDeps) {
  return async function listDeadLetters(c: Ctx): Promise<Response> {
    const state = (c.req.query('state') || 'pending') as DeadLetterState;
    if (!STATES.has(state)) throw badQuery('state', 'must be pending, replayed, discarded or all');
    const sqlstate = c.req.query('sqlstate') || undefined;
    if (sqlstate !== undefined && !/^[0-9A-Z]{2}([0-9A-Z]{3})?$/.test(sqlstate)) throw badQuery('sqlstate', 'must be a SQLSTATE (23505) or a class (23)');
    const page = await d.store.list({
      table: c.req.query('table') || undefined,
      sqlstate,
      since: timeParam(c, 'since'),
      until: timeParam(c, 'until'),
      state,
      after: intParam(c, 'after'),
      limit: intParam(c, 'limit', MAX_LIMIT) ?? DEFAULT_LIMIT,
    });
    return c.json(page);
  };
}

/** GET /v1/admin/dead-letters/{id}: one dead letter with its stored request. */
function getDeadLetter(d: DeadLetterRouteDeps) {
  return async function getDeadLetter(c: Ctx): Promise<Response> {
    const dl = await d.store.get(idParam(c));
    if (dl === null) throw new NotFoundError('no such dead letter');
    return c.json(dl);
  };
}

/** The stored request's ops, checked enough to be enqueued again. */
function opsOf(payload: unknown): WriteOp[] {
  const ops = (payload as { ops?: unknown } | null)?.ops;
  if (!Array.isArray(ops) || ops.length === 0 || ops.some((o) => typeof o?.t !== 'string' || typeof o?.op !== 'string')) {
    throw new AppError(409, 'https://sluice.dev/problems/not-replayable', 'Not replayable', 'the stored payload is not a request Sluice can enqueue');
  }
  return ops as WriteOp[];
}

/** Routing key of a replay: the first op with a key, as the write routes route. */
/**
 * POST /v1/admin/dead-letters/{id}/replay: enqueue the stored request again
 * as a new write (new writeId), through the normal path (admission,
 * partition, writer). Its Idempotency-Key `replay:{id}` makes a second call
 * answer with the first replay's writeId (`Idempotent-Replayed: true`)
 * instead of enqueuing again, and the writer's record of that key (in the
 * data transaction) keeps it to one application even if Redis forgot it.
 * `Sluice-Ack: committed` waits for the outcome like any write.
 */
function replayDeadLetter(d: DeadLetterRouteDeps) {
  return async function replayDeadLetter(c: Ctx): Promise<Response> {
    const id = idParam(c);
    const dl = await d.store.get(id);
    if (dl === null) throw new NotFoundError('no such dead letter');
    if (dl.discardedAt !== null) throw new AppError(409, 'https://sluice.dev/problems/discarded', 'Discarded', 'this dead letter was discarded; nothing to replay');
    const ops = opsOf(dl.payload);
    const idem = { scope: REPLAY_SCOPE, key: `replay:${id}`, hash: requestHash('POST', `/v1/admin/dead-letters/${id}/replay`, 'replay', ops) };
    let result;
    try {
      result = await d.service.submit({ ops, ack: ackModeOf(c), ret: false, idem, committedStatus: 200, owner: c.get('principal').id });
    } catch (err) {
      // Enqueued, but dead again (422) or not committed in time (504): the replay happened all the same.
      const writeId = err instanceof AppError ? err.extensions.writeId : undefined;
      if (typeof writeId === 'string') await d.store.markReplayed(id, writeId);
      throw err;
    }
    const deadLetter = await d.store.markReplayed(id, String(result.body.writeId));
    return sendResult(c, { ...result, body: { ...result.body, deadLetter } });
  };
}

/** DELETE /v1/admin/dead-letters/{id}: discard (kept as discarded, so the write's status stays `dead`). */
function discardDeadLetter(d: DeadLetterRouteDeps) {
  return async function discardDeadLetter(c: Ctx): Promise<Response> {
    if (!(await d.store.discard(idParam(c)))) throw new NotFoundError('no such dead letter');
    return c.body(null, 204);
  };
}

/** Mount the dead-letter admin routes (the caller checks the admin scope). */
export function deadLetterRoutes(app: Hono<GatewayEnv>, d: DeadLetterRouteDeps): void {
  app.get('/v1/admin/dead-letters', listDeadLetters(d));
  app.get('/v1/admin/dead-letters/:id', getDeadLetter(d));
  app.post('/v1/admin/dead-letters/:id/replay', replayDeadLetter(d));
  app.delete('/v1/admin/dead-letters/:id', discardDeadLetter(d));
}

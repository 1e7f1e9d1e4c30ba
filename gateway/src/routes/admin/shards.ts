import type { Hono, MiddlewareHandler } from 'hono';
import pTimeout from 'p-timeout';
import { AppError, NotFoundError, ValidationError } from '@sluice/shared/errors/index.ts';
import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { activeMove, createMove, getMove, listMoves, recentlyLeft, updateMove, type MoveRow } from '@sluice/shared/sql/shard-moves.ts';
import { rangeBounds } from '@sluice/shared/topology/key-ranges.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';

/**
 * `/v1/admin/shards`: the shards (primary health, replicas, backlog), the map
 * and its version, and the moves of key ranges between shards. A move is
 * created here and driven by the writers' mover (writer/src/sharding); its
 * state lives in `sluice.shard_moves` on the first shard.
 */

/** What the shard routes need. */
export interface ShardRouteDeps {
  topology: Topology;
  logs: PartitionLogs;
  /** Replica states of every shard (the gateway's read path). */
  replicas(): { shard: string; name: string; state: string; lagMs: number; reason: string }[];
  /** SLUICE_CACHE_TTL_S in ms: how long a shard's cache may still hold rows of a range that left it. */
  cacheTtlMs: number;
}

/** 409: the move cannot be created or cancelled now. */
class MoveConflictError extends AppError {
  override name = 'MoveConflictError';
  constructor(detail: string, extensions: Record<string, unknown> = {}) {
    super(409, 'https://sluice.dev/problems/move-conflict', 'Move not possible now', detail, extensions);
  }
}

const PING_MS = 1000;
/** States a move can still be cancelled in (before its cutover started). */
const CANCELLABLE = ['pending', 'copying', 'catching-up'] as const;

/** A move as the API shows it: `from`/`to` are the key bounds (null: unbounded), `source`/`shard` the shards. */
function moveView(m: MoveRow): Record<string, unknown> {
  return {
    id: m.id, from: m.lo, to: m.hi, source: m.source, shard: m.target, state: m.state, step: m.step,
    rowsCopied: m.rowsCopied, rowsLogged: m.rowsLogged, rowsDeleted: m.rowsDeleted, pauseMs: m.pauseMs,
    verify: m.verify, error: m.error, createdAt: m.createdAt, updatedAt: m.updatedAt, finishedAt: m.finishedAt,
  };
}

/** One shard's primary: reachable, and a standby or not (a promoted replica mistaken for a primary shows here). */
async function primaryHealth(d: ShardRouteDeps, shard: string): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  try {
    const { rows } = await pTimeout(d.topology.db(shard).query<{ standby: boolean; lsn: string | null }>('SELECT pg_is_in_recovery() AS standby, CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn'), { milliseconds: PING_MS });
    return { ok: !rows[0]!.standby, standby: rows[0]!.standby, lsn: rows[0]!.lsn, pingMs: Math.round(performance.now() - t0) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** GET /v1/admin/shards */
async function overview(d: ShardRouteDeps): Promise<Record<string, unknown>> {
  const map = d.topology.map;
  const replicas = d.replicas();
  const shards = await Promise.all(
    d.topology.shards.map(async (s) => {
      const parts = map.live().filter((r) => r.shard === s.name);
      const [primary, counts] = await Promise.all([primaryHealth(d, s.name), Promise.all(parts.map((r) => d.logs.get(r).counts().catch(() => null)))]);
      const known = counts.filter((c) => c !== null);
      return {
        name: s.name,
        primary,
        replicas: replicas.filter((r) => r.shard === s.name).map(({ shard: _, ...r }) => r),
        partitions: parts.length,
        // null when Redis did not answer for some partition.
        backlog: known.length === counts.length ? known.reduce((n, c) => n + c.backlog, 0) : null,
      };
    }),
  );
  const active = await activeMove(d.topology.metaDb);
  return { version: map.version, shardKeys: map.shardKeys, ranges: map.ranges, moves: map.moves, shards, activeMove: active === null ? null : moveView(active) };
}

/** A bound of the body: an integer, or null/absent for unbounded. */
function boundOf(body: Record<string, unknown>, name: 'from' | 'to'): number | null {
  const v = body[name];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ValidationError(`${name} must be an integer shard-key value (or null: unbounded)`, [{ pointer: `/${name}`, detail: 'expected an integer' }]);
  return v;
}

/** POST /v1/admin/shards/moves `{"from":10001,"to":15001,"shard":"s3"}` → 202 `{id, …}` */
function createMoveRoute(d: ShardRouteDeps) {
  return async function createMoveRoute(c: Ctx): Promise<Response> {
    const body = c.get('body') as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be {"from":<int>,"to":<int>,"shard":"<name>"}');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!['from', 'to', 'shard'].includes(k)) throw new ValidationError(`unknown member ${JSON.stringify(k.slice(0, 40))}`, [{ pointer: `/${k.slice(0, 40)}`, detail: 'expected from, to, shard' }]);
    const lo = boundOf(b, 'from');
    const hi = boundOf(b, 'to');
    const map = d.topology.map;
    if (typeof b.shard !== 'string' || !map.shardNames.includes(b.shard)) throw new ValidationError(`shard must name a shard (${map.shardNames.join(', ')})`, [{ pointer: '/shard', detail: 'unknown shard' }]);
    if (lo !== null && hi !== null && lo >= hi) throw new ValidationError('from must be below to', [{ pointer: '/to', detail: 'must be greater than from' }]);
    if (Object.keys(map.shardKeys).length === 0) throw new MoveConflictError('no table is sharded (SLUICE_SHARD_KEYS): there is nothing to move');
    const r = rangeBounds(map.ranges, lo ?? Number.MIN_SAFE_INTEGER);
    const inside = (r.lo === null || (lo !== null && lo >= r.lo)) && (r.hi === null || (hi !== null && hi <= r.hi));
    if (!inside) throw new MoveConflictError(`a move stays within one range of the map: ${r.lo ?? '-∞'}…${r.hi ?? '∞'} lives on ${r.shard}`, { ranges: map.ranges });
    if (r.shard === b.shard) throw new MoveConflictError(`keys from ${lo ?? '-∞'} already live on ${b.shard}`);
    // A shard's cache may still hold rows of a range that left it, until they expire: it cannot come back before.
    const left = await recentlyLeft(d.topology.metaDb, { lo, hi, shard: b.shard, withinMs: d.cacheTtlMs });
    if (left !== null) throw new MoveConflictError(`keys of this range left ${b.shard} at ${left}; its cache may hold them until SLUICE_CACHE_TTL_S has passed: retry after ${new Date(Date.parse(left) + d.cacheTtlMs).toISOString()}`);
    const move = await createMove(d.topology.metaDb, { lo, hi, source: r.shard, target: b.shard });
    if (move === null) {
      const busy = await activeMove(d.topology.metaDb);
      throw new MoveConflictError('another move is in progress: one at a time', busy === null ? {} : { move: moveView(busy) });
    }
    c.header('Location', `/v1/admin/shards/moves/${move.id}`);
    return c.json(moveView(move), 202);
  };
}

function idParam(c: Ctx): number {
  const v = c.req.param('id') ?? '';
  if (!/^\d{1,15}$/.test(v)) throw new NotFoundError(`no move ${JSON.stringify(v.slice(0, 20))}`);
  return Number(v);
}

/** DELETE /v1/admin/shards/moves/{id}: cancel a move that has not started its cutover (the mover undoes it). */
function cancelMoveRoute(d: ShardRouteDeps) {
  return async function cancelMoveRoute(c: Ctx): Promise<Response> {
    const id = idParam(c);
    const meta = d.topology.metaDb;
    const m = await getMove(meta, id);
    if (m === null) throw new NotFoundError(`no move ${id}`);
    if (m.state === 'cancelling' || m.state === 'cancelled') return c.json(moveView(m), 202);
    if (!(await updateMove(meta, id, { state: 'cancelling' }, CANCELLABLE))) {
      const now = (await getMove(meta, id))!;
      throw new MoveConflictError(`move ${id} is ${now.state}: only a move that has not started its cutover can be cancelled`, { move: moveView(now) });
    }
    return c.json(moveView((await getMove(meta, id))!), 202);
  };
}

/** Mount the shard admin routes (the caller checks the admin scope; `body` parses JSON). */
export function shardRoutes(app: Hono<GatewayEnv>, d: ShardRouteDeps, body: MiddlewareHandler<GatewayEnv>): void {
  app.get('/v1/admin/shards', async (c) => c.json(await overview(d)));
  app.get('/v1/admin/shards/moves', async (c) => c.json({ moves: (await listMoves(d.topology.metaDb)).map(moveView) }));
  app.post('/v1/admin/shards/moves', body, createMoveRoute(d));
  app.get('/v1/admin/shards/moves/:id', async (c) => {
    const m = await getMove(d.topology.metaDb, idParam(c));
    if (m === null) throw new NotFoundError(`no move ${c.req.param('id')}`);
    return c.json(moveView(m));
  });
  app.delete('/v1/admin/shards/moves/:id', cancelMoveRoute(d));
}

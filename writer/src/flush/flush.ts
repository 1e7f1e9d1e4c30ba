import type { WriteThroughRow } from '@sluice/shared/read/index.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { DatabaseError, isQueryReadTimeout, type Pool, type PoolClient } from '@sluice/shared/db/index.ts';
import type { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { deadOutcome, insertDeadLetters, rejectionFromError, type DeadLetter } from '../deadletters/dead-letters.ts';
import { applyRequests } from './apply.ts';
import { checkRequest } from './check.ts';
import { classify } from './classify.ts';
import { claimIdempotencyKeys, claimJobs, type IdempotencyHit } from './dedupe.ts';
import { bisectRequests } from './poison.ts';
import type { Fence } from '../partitions/fence.ts';
import { readReplays, replayOutcome, type Replay } from './replay.ts';
import type { StatementCache } from './sql.ts';
import type { AddressedOutcome, BatchJob, FlushResult, RequestResult, WorkItem } from './types.ts';

/**
 * One batch, one transaction, one checked-out connection:
 *
 *   BEGIN + partition fence check          (fail points before-begin, after-begin)
 *   check the partition's fencing token    → a newer owner exists: roll back (FencedError)
 *   claim job ids in sluice.applied_jobs   → skip jobs applied before
 *   check requests against the catalog     → dead-letter what cannot be planned
 *   claim Idempotency-Keys                 → skip repeats (duplicate outcome)
 *   run the planned statements             → on a poison error: ROLLBACK and redo
 *                                            the whole transaction with bisection
 *   insert dead letters                    (fail point before-commit)
 *   COMMIT; SELECT pg_current_wal_insert_lsn()   in one round trip
 *                                          (fail point after-commit, in the caller)
 *
 * Any other error is thrown after ROLLBACK and `release(err)`; the batcher
 * decides whether to retry.
 */

/** What a flush needs. */
export interface FlushContext {
  pool: Pool;
  catalog: Catalog;
  cache: StatementCache;
  failpoints: FailPoints;
  log: Logger;
}

/** Per-call options of a flush (set by the writer's pipeline). */
export interface FlushOptions {
  /**
   * Partition ownership check, run right after BEGIN (partitions/fence.ts):
   * throws when a newer owner exists, and holds a row lock until COMMIT.
   */
  fence?: Fence;
  /**
   * Last resort after repeated non-retryable failures (RELIABILITY row 4):
   * bisect at once and blame a lone request for any error that is neither
   * retryable nor a system error (58xxx), so it is dead-lettered instead of
   * failing the whole batch through BullMQ.
   */
  isolateFatal?: boolean;
}

interface Committed {
  lsn: string;
  at: string;
}

/** Everything decided inside the transaction, before COMMIT. */
interface TxState {
  fresh: WorkItem[];
  skippedJobs: number;
  dead: Map<WorkItem, DeadLetter>;
  hits: Map<WorkItem, IdempotencyHit>;
  applied: Map<WorkItem, RequestResult>;
  replays: Map<WorkItem, Replay>;
  rows: number;
  bisected: boolean;
}

/** A data error raised by the planned statements of the fast path: redo with bisection. */
class Poisoned {
  constructor(readonly err: unknown) {}
}

/** Raised when COMMIT reports ROLLBACK (the transaction had failed). */
export class CommitRolledBackError extends Error {
  override readonly name = 'CommitRolledBackError';
}

const fail = (p: FailPoints, log: Logger, name: string) => p.hit(name, () => log.warn({ failpoint: name }, 'fail point hit'));

/** Flush one batch (see the module comment). Resolves once the batch has committed. */
export async function flushBatch(ctx: FlushContext, jobs: readonly BatchJob[], opts: FlushOptions = {}): Promise<FlushResult> {
  const client = await ctx.pool.connect();
  // pg-pool removes its own 'error' listener while a client is checked out; a
  // connection dropped between two of our queries (57P01 at shutdown, a
  // terminated backend) would then be an unhandled 'error' event and kill the
  // process. The next query fails anyway, and that error is the one we act on.
  const onError = (err: Error) => ctx.log.warn({ err }, 'postgres connection failed during a flush');
  client.on('error', onError);
  let done: Done;
  try {
    done = await attempts(ctx, client, jobs, opts);
  } catch (err) {
    client.off('error', onError);
    await rollbackAndRelease(client, err);
    throw err;
  }
  client.off('error', onError);
  client.release();
  await fail(ctx.failpoints, ctx.log, 'after-commit');
  return result(done.st, done.c, jobs.length);
}

/** The fast path, then (after a data error) the bisecting path, on one connection. */
async function attempts(ctx: FlushContext, client: PoolClient, jobs: readonly BatchJob[], opts: FlushOptions): Promise<Done> {
  if (opts.isolateFatal) {
    const isolated = await attempt(ctx, client, jobs, true, opts);
    if (isolated instanceof Poisoned) throw isolated.err;
    return isolated;
  }
  const fast = await attempt(ctx, client, jobs, false, opts);
  if (!(fast instanceof Poisoned)) return fast;
  ctx.log.info({ err: fast.err, jobs: jobs.length }, 'batch hit a data error; bisecting to find the guilty requests');
  // Ends the failed transaction (only a warning if a failed COMMIT ended it already).
  await client.query('ROLLBACK');
  const slow = await attempt(ctx, client, jobs, true, opts);
  if (slow instanceof Poisoned) throw slow.err;
  return slow;
}

interface Done {
  st: TxState;
  c: Committed;
}

/**
 * One transaction, through COMMIT. A poison error on the fast path (from a
 * statement, or from COMMIT checking a deferred constraint) comes back as
 * `Poisoned`; the bisecting path throws everything.
 */
async function attempt(ctx: FlushContext, client: PoolClient, jobs: readonly BatchJob[], bisect: boolean, opts: FlushOptions): Promise<Done | Poisoned> {
  const st = await transaction(ctx, client, jobs, bisect, opts);
  if (st instanceof Poisoned) return st;
  try {
    return { st, c: await commit(client) };
  } catch (err) {
    if (!bisect && classify(err) === 'poison') return new Poisoned(err);
    throw err;
  }
}

/** BEGIN and the partition fence check, in one round trip when the fence can be inlined. */
async function begin(client: PoolClient, fence: Fence | undefined): Promise<void> {
  const inline = fence?.inline;
  if (inline) {
    const res = (await client.query(`BEGIN; ${inline.sql}`)) as unknown as { rowCount: number | null }[];
    inline.verify(res[1]?.rowCount ?? null);
    return;
  }
  await client.query('BEGIN');
  await fence?.(client);
}

async function transaction(ctx: FlushContext, client: PoolClient, jobs: readonly BatchJob[], bisect: boolean, opts: FlushOptions): Promise<TxState | Poisoned> {
  await fail(ctx.failpoints, ctx.log, 'before-begin');
  await begin(client, opts.fence);
  await fail(ctx.failpoints, ctx.log, 'after-begin');
  // Deferrable constraints would otherwise be checked at COMMIT, past every savepoint.
  if (bisect) await client.query('SET CONSTRAINTS ALL IMMEDIATE');
  const { fresh, skipped } = await claimJobs(client, jobs);
  const freshIds = new Set(fresh.map((j) => j.id));
  const st: TxState = {
    fresh: fresh.flatMap((job) => job.data.reqs.map((req) => ({ job, req }))),
    skippedJobs: skipped.length,
    dead: new Map(),
    hits: new Map(),
    applied: new Map(),
    replays: new Map(),
    rows: 0,
    bisected: bisect,
  };
  const runnable: WorkItem[] = [];
  for (const item of st.fresh) {
    const q = item.job.quarantine;
    const why = q !== undefined ? { ...q, table: item.req.ops[0]?.t } : checkRequest(ctx.catalog, item.req);
    if (why) st.dead.set(item, { item, why });
    else runnable.push(item);
  }
  st.hits = await claimIdempotencyKeys(client, runnable);
  for (const [item, hit] of st.hits) if (hit.mismatch) st.dead.set(item, { item, why: mismatch(item, hit) });
  const toApply = runnable.filter((w) => !st.hits.has(w));
  const poisoned = await applyAll(ctx, client, toApply, st, opts.isolateFatal === true);
  if (poisoned) return poisoned;
  await insertDeadLetters(client, [...st.dead.values()]);
  // Redelivered jobs (not repeats inside this batch): tell waiting gateways again.
  const replay = skipped.filter((j) => !freshIds.has(j.id)).flatMap((job) => job.data.reqs.filter((r) => r.ack).map((req) => ({ job, req })));
  st.replays = await readReplays(client, replay);
  await fail(ctx.failpoints, ctx.log, 'before-commit');
  return st;
}

/** Run the statements: fast path in one go, or bisected; records results into `st`. */
async function applyAll(ctx: FlushContext, client: PoolClient, items: WorkItem[], st: TxState, isolateFatal: boolean): Promise<Poisoned | undefined> {
  const reqs = items.map((w) => w.req);
  if (!st.bisected) {
    try {
      const a = await applyRequests(client, ctx.catalog, ctx.cache, reqs);
      a.results.forEach((r, i) => st.applied.set(items[i]!, r));
      st.rows = a.rows;
      return undefined;
    } catch (err) {
      if (classify(err) === 'poison') return new Poisoned(err);
      throw err;
    }
  }
  const b = await bisectRequests(client, ctx.catalog, ctx.cache, reqs, isolateFatal ? blameableIn(reqs.length) : undefined);
  b.results.forEach((r, i) => r && st.applied.set(items[i]!, r));
  for (const g of b.guilty) {
    const item = items[g.index]!;
    st.dead.set(item, { item, why: rejectionFromError(ctx.catalog, item, g.err) });
  }
  st.rows = b.rows;
  return undefined;
}

/**
 * What a lone request is blamed for in isolation (`FlushOptions.isolateFatal`,
 * after bounded retries): anything but a retryable error or a system error
 * (58xxx: I/O, not the request); and a statement timeout (57014), within a
 * budget. A request whose statement never finishes in time (a trigger that
 * sleeps, a row locked for good) would otherwise stall its partition forever;
 * but a slow database times out everything. One slow request among n costs
 * about log2(n) + 1 timed-out ranges, so past twice that the batch is retried
 * whole instead of dead-lettering requests that did nothing wrong.
 */
function blameableIn(n: number): (err: unknown) => boolean {
  let timeouts = 0;
  const budget = 2 * Math.ceil(Math.log2(n + 1)) + 2;
  return (err) => {
    if (err instanceof DatabaseError && err.code === '57014') return ++timeouts <= budget;
    const kind = classify(err);
    return kind === 'poison' || (kind === 'fatal' && !(err instanceof DatabaseError && (err.code ?? '').startsWith('58')));
  };
}

function mismatch(item: WorkItem, hit: IdempotencyHit) {
  // The (scope, key) primary key refused it; the draft's answer is 422.
  return {
    sqlstate: '23505',
    message: `Idempotency-Key already used with a different request body (by ${hit.of})`,
    table: item.req.ops[0]?.t,
    constraint: 'idempotency_keys_pkey',
  };
}

/**
 * COMMIT and take the consistency token in one round trip (a simple-query
 * string of two statements). The token is the end of a tiny non-transactional
 * WAL message emitted after COMMIT returned, i.e. after the commit became
 * visible: a replica that replayed up to it has this batch, and a reader that
 * saw the primary's WAL position at or past it reads a snapshot holding it
 * (which lets the read path stamp primary fills exactly: shared/src/cache/loader.ts).
 * It also moves an idle primary's WAL on, so the next fill is not held back.
 */
async function commit(client: PoolClient): Promise<Committed> {
  const res = (await client.query("COMMIT; SELECT pg_logical_emit_message(false, 'sluice', '')::text AS lsn")) as unknown;
  const parts = (Array.isArray(res) ? res : [res]) as { command: string; rows: { lsn?: string }[] }[];
  // COMMIT of a transaction that had failed answers ROLLBACK instead of raising.
  if (parts[0]?.command !== 'COMMIT') throw new CommitRolledBackError(`COMMIT answered ${parts[0]?.command ?? 'nothing'}`);
  const lsn = parts[1]?.rows[0]?.lsn;
  if (!lsn) throw new Error('no LSN after COMMIT');
  return { lsn, at: new Date().toISOString() };
}

// A prepared statement that can no longer run on this connection ("cached plan
// must not change result type" after ALTER TABLE, 0A000; a lost statement,
// 26000): drop the connection so the retry prepares afresh on a new one.
const STALE_STATEMENT = new Set(['0A000', '26000']);

async function rollbackAndRelease(client: PoolClient, cause: unknown): Promise<void> {
  // After a client-side query timeout the connection is still busy with the
  // unanswered query: a ROLLBACK would queue behind it and time out too. Destroy
  // it; the server rolls the transaction back when it sees the socket close
  // (or, if it was the COMMIT, the retry's job claim waits for it and skips).
  if (isQueryReadTimeout(cause) || (cause instanceof DatabaseError && STALE_STATEMENT.has(cause.code ?? ''))) {
    client.release(cause as Error);
    return;
  }
  try {
    await client.query('ROLLBACK');
    client.release();
  } catch (rollbackErr) {
    // The connection is unusable (lost, or mid-protocol): destroy it instead of pooling it.
    client.release(rollbackErr instanceof Error ? rollbackErr : (cause as Error));
  }
}

function result(st: TxState, c: Committed, jobs: number): FlushResult {
  const acks: AddressedOutcome[] = [];
  const written: WriteThroughRow[] = [];
  for (const item of st.fresh) {
    const cached = st.dead.has(item) ? undefined : st.applied.get(item)?.cache;
    if (cached) written.push(...cached);
    const node = item.req.ack;
    if (node === undefined) continue;
    const id = item.req.id;
    const dead = st.dead.get(item);
    const hit = st.hits.get(item);
    const applied = st.applied.get(item);
    if (dead) acks.push({ node, outcome: deadOutcome(id, dead.why) });
    else if (hit) acks.push({ node, outcome: { id, s: 'duplicate', of: hit.of, lsn: c.lsn, at: c.at } });
    else if (applied) acks.push({ node, outcome: { id, s: 'committed', lsn: c.lsn, at: c.at, n: applied.n, ...(applied.keys ? { keys: applied.keys } : {}) } });
  }
  for (const [item, r] of st.replays) acks.push({ node: item.req.ack!, outcome: replayOutcome(item.req.id, r, c.lsn, c.at) });
  return {
    lsn: c.lsn,
    at: c.at,
    written,
    acks,
    stats: {
      jobs,
      skippedJobs: st.skippedJobs,
      requests: st.fresh.length,
      rows: st.rows,
      duplicates: [...st.hits.values()].filter((h) => !h.mismatch).length,
      dead: [...st.dead.values()].map((d) => ({ table: d.why.table ?? '', sqlstate: d.why.sqlstate })),
      bisected: st.bisected,
    },
  };
}

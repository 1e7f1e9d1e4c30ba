import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { DatabaseError, isQueryReadTimeout, type Pool, type PoolClient } from '@sluice/shared/db/pool.ts';
import type { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { timelineOfWalFile, type ServerState } from '@sluice/shared/sql/replication.ts';
import { classify } from './classify.ts';
import type { BeforeStatementsHook, InTransactionHook } from './hooks.ts';
import { result } from './result.ts';
import type { StatementCache } from './sql.ts';
import { fail, Poisoned, transaction, type TxState } from './transaction.ts';
import type { BatchJob, FlushResult, Member } from './types.ts';

/**
 * One batch, one transaction, one checked-out connection:
 *
 *   BEGIN + server check + partition fence (fail points before-begin, after-begin)
 *   check the server's role and timeline   → a standby or an old primary: roll back (confirm/timeline-floor.ts)
 *   check the partition's fencing token    → a newer owner exists: roll back (FencedError)
 *   claim job ids in sluice.applied_jobs   → skip jobs applied before
 *   check requests against the catalog     → dead-letter what cannot be planned
 *   claim Idempotency-Keys                 → skip repeats (duplicate outcome)
 *   run the planned statements             → on a poison error: ROLLBACK and redo
 *                                            the whole transaction with bisection
 *   in-transaction hooks (hooks.ts)        work that must commit with the batch
 *   insert dead letters                    (fail point before-commit)
 *   COMMIT; SELECT pg_logical_emit_message(…)   in one round trip: the consistency token
 *                                          (fail point after-commit, in the caller)
 *
 * Any other error is thrown after ROLLBACK and `release(err)`; the batcher
 * decides whether to retry.
 */

/** What a flush needs. */
export interface FlushContext {
  /** The primary pool of the shard the batch commits to. */
  pool: Pool;
  catalog: Catalog;
  cache: StatementCache;
  failpoints: FailPoints;
  log: Logger;
  /** Run inside every batch transaction, after its statements (registered at wiring time). */
  inTransaction: readonly InTransactionHook[];
  /** Run before the statements of each attempt (read models' before-images). */
  beforeStatements?: readonly BeforeStatementsHook[];
  /** Judges the server of each batch transaction from the state read with BEGIN; throws to roll back (confirm/timeline-floor.ts). */
  server?: ServerCheck;
}

/** See {@link FlushContext.server}: `conn` is the batch's connection. */
export type ServerCheck = (conn: object, st: ServerState) => Promise<void>;

/** Per-call options of a flush (set by the writer's pipeline). */
export interface FlushOptions extends Omit<Member, 'jobs'> {
  /**
   * Last resort after repeated non-retryable failures (RELIABILITY row 4):
   * bisect at once and blame a lone request for any error that is neither
   * retryable nor a system error (58xxx), so it is dead-lettered instead of
   * failing the whole batch through BullMQ.
   */
  isolateFatal?: boolean;
}

/** Raised when COMMIT reports ROLLBACK (the transaction had failed). */
export class CommitRolledBackError extends Error {
  override readonly name = 'CommitRolledBackError';
}

/** Flush one batch (see the module comment). Resolves once the batch has committed. */
export async function flushBatch(ctx: FlushContext, jobs: readonly BatchJob[], opts: FlushOptions = {}): Promise<FlushResult> {
  const { isolateFatal, ...member } = opts;
  const done = await onConnection(ctx, (client) => attempts(ctx, client, { ...member, jobs }, isolateFatal === true));
  return result(done.st, done.c, jobs);
}

/**
 * Flush the batches of several partitions of one shard in ONE transaction
 * (group commit: group-commit.ts), fast path only: a data error, a fenced
 * member, any error rolls the whole group back and is thrown; the caller
 * then flushes each member alone (`flushBatch`), where bisection, fencing
 * and retries apply per partition as ever. Results are per member, in order.
 */
export async function flushGroup(ctx: FlushContext, members: readonly Member[]): Promise<FlushResult[]> {
  const done = await onConnection(ctx, async (client) => {
    const d = await attempt(ctx, client, members, false, false);
    if (d instanceof Poisoned) throw d.err;
    return d;
  });
  if (members.length === 1) return [result(done.st, done.c, members[0]!.jobs)];
  return members.map((m, i) => result(done.st, done.c, m.jobs, { members: members.length, rows: done.st.rows, first: i === 0 }));
}

/** Run a transaction's attempts on one checked-out connection; ROLLBACK and release on failure. */
async function onConnection(ctx: FlushContext, body: (client: PoolClient) => Promise<Done>): Promise<Done> {
  const client = await ctx.pool.connect();
  // pg-pool removes its own 'error' listener while a client is checked out; a
  // connection dropped between two of our queries (57P01 at shutdown, a
  // terminated backend) would then be an unhandled 'error' event and kill the
  // process. The next query fails anyway, and that error is the one we act on.
  // The listener stays until the client is released (pg-pool's is back then):
  // a dying primary's socket ends just after the failed query, while the
  // ROLLBACK is sent (test/writer/writer.flush-connection-ends-during-rollback.test.ts).
  const onError = (err: Error) => ctx.log.warn({ err }, 'postgres connection failed during a flush');
  client.on('error', onError);
  let done: Done;
  try {
    done = await body(client);
  } catch (err) {
    await rollbackAndRelease(client, err);
    client.off('error', onError);
    throw err;
  }
  client.release();
  client.off('error', onError);
  await fail(ctx.failpoints, ctx.log, 'after-commit');
  return done;
}

/** The fast path, then (after a data error) the bisecting path, on one connection. */
async function attempts(ctx: FlushContext, client: PoolClient, member: Member, isolateFatal: boolean): Promise<Done> {
  if (isolateFatal) {
    const isolated = await attempt(ctx, client, [member], true, true);
    if (isolated instanceof Poisoned) throw isolated.err;
    return isolated;
  }
  const fast = await attempt(ctx, client, [member], false, false);
  if (!(fast instanceof Poisoned)) return fast;
  ctx.log.info({ err: fast.err, jobs: member.jobs.length }, 'batch hit a data error; bisecting to find the guilty requests');
  // Ends the failed transaction (only a warning if a failed COMMIT ended it already).
  await client.query('ROLLBACK');
  const slow = await attempt(ctx, client, [member], true, false);
  if (slow instanceof Poisoned) throw slow.err;
  return slow;
}

interface Done {
  st: TxState;
  c: Commit;
}

/** Where and when a batch committed. */
export interface Commit {
  /** The consistency token. */
  lsn: string;
  /** The timeline `lsn` is on (a promoted standby writes on a new one). */
  timeline: number;
  at: string;
}

/**
 * One transaction, through COMMIT. A poison error on the fast path (from a
 * statement, or from COMMIT checking a deferred constraint) comes back as
 * `Poisoned`; the bisecting path throws everything.
 */
async function attempt(ctx: FlushContext, client: PoolClient, members: readonly Member[], bisect: boolean, isolateFatal: boolean): Promise<Done | Poisoned> {
  const st = await transaction(ctx, client, members, bisect, isolateFatal);
  if (st instanceof Poisoned) return st;
  try {
    return { st, c: await commit(client) };
  } catch (err) {
    if (!bisect && classify(err) === 'poison') return new Poisoned(err);
    throw err;
  }
}

/**
 * COMMIT and take the consistency token in one round trip (a simple-query
 * string of two statements). The token is the end of a tiny non-transactional
 * WAL message emitted after COMMIT returned, i.e. after the commit became
 * visible: a replica that replayed up to it has this batch, and a reader that
 * saw the primary's WAL position at or past it reads a snapshot holding it
 * (which lets the read path stamp primary fills exactly: shared/src/cache/loader.ts).
 * It also moves an idle primary's WAL on, so the next fill is not held back.
 * The WAL file name of the insert position names the timeline: a position is
 * only comparable with positions of the same timeline (confirm/confirmer.ts).
 */
async function commit(client: PoolClient): Promise<Commit> {
  const res = (await client.query("COMMIT; SELECT pg_logical_emit_message(false, 'sluice', '')::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal")) as unknown;
  const parts = (Array.isArray(res) ? res : [res]) as { command: string; rows: { lsn?: string; wal?: string }[] }[];
  // COMMIT of a transaction that had failed answers ROLLBACK instead of raising.
  if (parts[0]?.command !== 'COMMIT') throw new CommitRolledBackError(`COMMIT answered ${parts[0]?.command ?? 'nothing'}`);
  const row = parts[1]?.rows[0];
  if (!row?.lsn || !row.wal) throw new Error('no LSN after COMMIT');
  return { lsn: row.lsn, timeline: timelineOfWalFile(row.wal), at: new Date().toISOString() };
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


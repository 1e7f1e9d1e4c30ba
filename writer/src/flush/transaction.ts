import { DatabaseError, type PoolClient } from '@sluice/shared/db/pool.ts';
import type { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { Fence } from '@sluice/shared/sql/partition-fences.ts';
import { SERVER_STATE_SQL, serverStateOf } from '@sluice/shared/sql/replication.ts';
import type { Refusal } from '@sluice/shared/sql/dead-letters.ts';
import { insertDeadLetters, rejectionFromError, type DeadLetter } from '../deadletters/dead-letters.ts';
import { applyRequests } from './apply.ts';
import { checkRequest } from './check.ts';
import { classify } from './classify.ts';
import { claimIdempotencyKeys, claimJobs, type IdempotencyHit } from './dedupe.ts';
import type { FlushContext, ServerCheck } from './flush.ts';
import { bisectRequests } from './poison.ts';
import { readReplays, type Replay } from './replay.ts';
import type { BatchJob, Member, RequestResult, WorkItem } from './types.ts';

/**
 * The body of a batch transaction, from BEGIN to just before COMMIT (see
 * flush.ts for the whole sequence): fence, job claims, the writer's own
 * check, Idempotency-Keys, the planned statements (bisected after a data
 * error), the in-transaction hooks, dead letters, replayed outcomes.
 *
 * A transaction holds one partition's batch, or (group commit, see
 * group-commit.ts) the batches of several partitions of one shard: then
 * every member's fence is checked in the BEGIN round trip, and each step
 * below runs once over all members' jobs in member order. Keys never span
 * partitions, so the statements keep each partition's queue order and no
 * two members touch one row; result.ts splits the outcome per member.
 */

/** Everything decided inside the transaction, before COMMIT. */
export interface TxState {
  fresh: WorkItem[];
  /** Jobs applied before (redelivered), or repeated within the batch: not applied again. */
  skipped: BatchJob[];
  dead: Map<WorkItem, DeadLetter>;
  hits: Map<WorkItem, IdempotencyHit>;
  applied: Map<WorkItem, RequestResult>;
  replays: Map<WorkItem, Replay>;
  rows: number;
  bisected: boolean;
}

/** A data error raised by the planned statements of the fast path: redo with bisection. */
export class Poisoned {
  constructor(readonly err: unknown) {}
}

export const fail = (p: FailPoints, log: Logger, name: string) => p.hit(name, () => log.warn({ failpoint: name }, 'fail point hit'));

/**
 * BEGIN, the server check and the partition fence checks, in one round trip
 * when every fence can be inlined (a simple-query string: BEGIN's result, the
 * server state, then one per fence). The server check (confirm/timeline-floor.ts)
 * reads the server's role and timeline before any statement of the batch, so
 * a batch sent to an old primary back behind the address is rolled back with
 * nothing applied.
 */
async function begin(client: PoolClient, fences: readonly Fence[], server: ServerCheck | undefined): Promise<void> {
  const inline = fences.length > 0 && fences.every((f) => f.inline);
  if (!inline && server === undefined) {
    await client.query('BEGIN');
    for (const fence of fences) await fence(client);
    return;
  }
  const text = ['BEGIN', ...(server ? [SERVER_STATE_SQL] : []), ...(inline ? fences.map((f) => f.inline!.sql) : [])].join('; ');
  const res = (await client.query(text)) as unknown as { rowCount: number | null; rows: { rec?: boolean; wal?: string | null }[] }[];
  if (server) await server(client, serverStateOf(res[1]?.rows[0]));
  const first = server ? 2 : 1;
  if (inline) fences.forEach((f, i) => f.inline!.verify(res[first + i]?.rowCount ?? null));
  else for (const fence of fences) await fence(client);
}

/** Why a request was refused before the transaction (sharding/placement.ts), from any member. */
function refusedOf(members: readonly Member[], writeId: string): Refusal | undefined {
  for (const m of members) {
    const r = m.rejected?.get(writeId);
    if (r) return r;
  }
  return undefined;
}

export async function transaction(ctx: FlushContext, client: PoolClient, members: readonly Member[], bisect: boolean, isolateFatal: boolean): Promise<TxState | Poisoned> {
  await fail(ctx.failpoints, ctx.log, 'before-begin');
  await begin(client, members.flatMap((m) => (m.fence ? [m.fence] : [])), ctx.server);
  await fail(ctx.failpoints, ctx.log, 'after-begin');
  // Deferrable constraints would otherwise be checked at COMMIT, past every savepoint.
  if (bisect) await client.query('SET CONSTRAINTS ALL IMMEDIATE');
  const { fresh, skipped } = await claimJobs(client, members.length === 1 ? members[0]!.jobs : members.flatMap((m) => m.jobs));
  const freshIds = new Set(fresh.map((j) => j.id));
  const st: TxState = {
    fresh: fresh.flatMap((job) => job.data.reqs.map((req) => ({ job, req }))),
    skipped,
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
    const why = q !== undefined ? { ...q, table: item.req.ops[0]?.t } : (refusedOf(members, item.req.id) ?? checkRequest(ctx.catalog, item.req));
    if (why) st.dead.set(item, { item, why });
    else runnable.push(item);
  }
  st.hits = await claimIdempotencyKeys(client, runnable);
  for (const [item, hit] of st.hits) if (hit.mismatch) st.dead.set(item, { item, why: mismatch(item, hit) });
  const toApply = runnable.filter((w) => !st.hits.has(w));
  if (ctx.beforeStatements && toApply.length > 0) for (const hook of ctx.beforeStatements) await hook(toApply.map((w) => w.req), client);
  const poisoned = await applyAll(ctx, client, toApply, st, isolateFatal);
  if (poisoned) return poisoned;
  // Work that must commit with the batch (read models): once, over what was applied (every member's).
  for (const hook of ctx.inTransaction) await hook({ partition: members[0]?.partition, applied: st.applied }, client);
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


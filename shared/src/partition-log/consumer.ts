import { createHash } from 'node:crypto';
import { WaitingError, type Job } from 'bullmq';
import pTimeout from 'p-timeout';
import type { RedisClient as Redis } from '../redis/connections.ts';
import type { Logger } from '../log/index.ts';
import { whenReady } from '../redis/connect.ts';
import type { PartitionRef } from '../topology/partitions.ts';
import { queueName } from './names.ts';
import { OrderedWorker } from './ordered-worker.ts';
import { backlogSizeKey, sizeOfJobs } from './partition-log.ts';

/**
 * The consumer side of one partition's log: a BullMQ Worker, bent in the few
 * places Sluice's guarantees need, all of them here.
 *
 * - Order: the processor is called in the order entries left the queue.
 *   BullMQ also takes the next job inside the call that completes one ("fetch
 *   next"), concurrently with its main loop, and calls the processor in the
 *   order those promises settle: under load a job overtook up to ten earlier
 *   ones (the contract test shows it with a plain Worker). Here only the main
 *   loop fetches, one fetch at a time, so calls follow the queue.
 * - Leaving an entry taken: a processor that rejects with {@link LeftInLog}
 *   leaves it in `active`, neither done nor failed (BullMQ's WaitingError),
 *   for `moveBack` or for the next consumer's `handBackOrphans`.
 * - A gate before every take (`mayTake`): a consumer whose lease may have
 *   lapsed takes nothing more (see OrderedWorker.mayTake).
 * - Moving entries back to the head of the queue, in order.
 * - A counter kept in an entry's own hash (gone with the entry).
 * - Close: BullMQ's close waits for its blocking connection's 'end', which
 *   ioredis never emits for a client disconnected while it waits to
 *   reconnect; close waits (bounded) for Redis first, then force-closes.
 * - Completing many entries in one script (`complete`): BullMQ completes each
 *   job with its own moveToFinished script after its processor resolves, one
 *   round trip and one 14-key script per job. A batch's jobs all commit at
 *   once, so they are completed together; their processors then leave the
 *   log alone (WaitingError, as for LeftInLog).
 * Entries are removed when they complete (`sluice.applied_jobs` remembers
 * them); failed ones stay in the failed set for inspection.
 */

/** One entry (job) of a partition's log as the consumer hands it out. */
export interface LogEntry {
  readonly id: string;
  readonly data: unknown;
  /** Times the log started this entry: above 1, its last holder died or froze holding it (or it was handed back). */
  readonly attempts: number;
}

/** Reject a processor's promise with this to leave the entry taken: neither done nor failed. */
export class LeftInLog extends Error {
  override readonly name = 'LeftInLog';
}

/** Settings of a consumer. */
export interface LogConsumerOptions {
  /** A `worker`-role connection (no command timeout, retries forever); the caller closes it after `close()`. */
  connection: Redis;
  prefix: string;
  /** Entries held (taken, not yet done) at once. */
  concurrency: number;
  /** Lock of a taken entry; renewed every quarter of it from the take on, while held. */
  lockDurationMs: number;
  /** Stalls after which the log fails an entry by itself (a backstop: see the writer's quarantine). */
  maxStalledCount: number;
  log: Logger;
  /** An entry failed for good (its processor threw something else than LeftInLog). */
  onFailed?(id: string | undefined, err: Error): void;
  /**
   * Asked right before each take: false takes nothing and stops fetching (see
   * OrderedWorker). A leased partition's consumer answers whether its lease is
   * still surely valid.
   */
  mayTake?(): boolean;
}

/**
 * Locks are renewed every quarter of their duration (BullMQ: every half),
 * checked every eighth: an event loop may stall for three quarters of a lock
 * before one lapses, not a half.
 */
const RENEWALS_PER_LOCK = 4;

/** Consumes one partition's log (see the module comment). */
export class LogConsumer {
  private worker: OrderedWorker | undefined;
  /** The BullMQ job and lock token behind each entry handed out. */
  private readonly taken = new WeakMap<LogEntry, { job: Job; token: string | undefined }>();
  /** Entries `complete` finished in the log: their processors must not complete them again. */
  private readonly finished = new WeakSet<LogEntry>();
  private closing: Promise<void> | undefined;

  constructor(
    readonly ref: PartitionRef,
    private readonly o: LogConsumerOptions,
    private readonly processor: (entry: LogEntry) => Promise<void>,
  ) {}

  /** Start taking entries; resolves once the worker is connected. */
  async start(): Promise<void> {
    const o = this.o;
    this.worker = new OrderedWorker(queueName(this.ref), (job: Job, token?: string) => this.process(job, token), {
      connection: o.connection,
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs,
      lockRenewTime: Math.max(100, Math.floor(o.lockDurationMs / RENEWALS_PER_LOCK)),
      // Check for stalled jobs (a dead consumer's) twice per lock period.
      stalledInterval: Math.max(500, Math.floor(o.lockDurationMs / 2)),
      maxStalledCount: o.maxStalledCount,
      // Producers set removeOnComplete per job; this is only the fallback. Failed jobs stay.
      removeOnComplete: { count: 0 },
      autorun: true,
    });
    if (o.mayTake) this.worker.mayTake = o.mayTake;
    this.worker.on('error', (err) => o.log.warn({ err }, 'partition log consumer error'));
    this.worker.on('failed', (job, err) => {
      if (job !== undefined) this.shrink(job);
      o.onFailed?.(job?.id, err);
    });
    // A job left the backlog: take its writes and bytes off the partition's size (partition-log.ts `sizes`).
    this.worker.on('completed', (job) => this.shrink(job));
    await this.worker.waitUntilReady();
  }

  private shrink(job: Job): void {
    this.shrinkBy(sizeOfJobs([job.data]));
  }

  private shrinkBy(s: { writes: number; bytes: number }): void {
    if (s.writes === 0 && s.bytes === 0) return;
    const key = backlogSizeKey(`${this.o.prefix}:${queueName(this.ref)}:`);
    this.o.connection
      .multi()
      .hincrby(key, 'w', -s.writes)
      .hincrby(key, 'b', -s.bytes)
      .exec()
      .catch(() => {}); // a lost subtraction is undone when the log next drains (sizes())
  }

  private async process(job: Job, token: string | undefined): Promise<void> {
    if (job.id === undefined) throw new Error('a log entry without an id');
    const entry: LogEntry = { id: job.id, data: job.data, attempts: job.attemptsStarted ?? 1 };
    this.taken.set(entry, { job, token });
    try {
      await this.processor(entry);
    } catch (err) {
      if (err instanceof LeftInLog) throw new WaitingError();
      throw err;
    }
    // Completed already by `complete`: BullMQ's own moveToFinished would find no lock.
    if (this.finished.has(entry)) throw new WaitingError();
  }

  /**
   * Complete taken entries in one script, as BullMQ's moveToFinished does for
   * a job with `removeOnComplete` (check the lock token, drop the lock, take it
   * off `active` and the stalled candidates, delete its keys, emit
   * `completed`), before their processors resolve. An entry whose lock is not
   * ours any more, or that is gone, is left to BullMQ's own completion (which
   * reports it as it always did); so is every entry when the call fails.
   * Returns how many were completed here.
   */
  async complete(entries: readonly LogEntry[]): Promise<number> {
    const held = entries.flatMap((e) => {
      const t = this.taken.get(e);
      return t?.token !== undefined && !this.finished.has(e) ? [{ e, token: t.token }] : [];
    });
    // A dropped connection would queue the script until it reconnects, holding the
    // batch (and a stop) behind it: BullMQ's own completion copes with that case.
    if (held.length === 0 || this.o.connection.status !== 'ready') return 0;
    const base = `${this.o.prefix}:${queueName(this.ref)}`;
    const keys = [`${base}:active`, `${base}:stalled`, `${base}:events`, `${base}:meta`, backlogSizeKey(`${base}:`), ...held.map((h) => `${base}:${h.e.id}`)];
    const argv = held.flatMap((h) => [h.e.id, h.token, String(writesOf(h.e.data))]);
    this.worker?.untrack(held.map((h) => h.e.id));
    let done: number[];
    try {
      // Bounded: past it, BullMQ completes each entry (one the script finished meanwhile is reported missing, nothing more).
      done = (await pTimeout(evalCached(this.o.connection, COMPLETE_ENTRIES, COMPLETE_ENTRIES_SHA, keys, argv), { milliseconds: Math.max(250, Math.floor(this.o.lockDurationMs / 4)) })) as number[];
    } catch (err) {
      this.o.log.debug({ err, entries: held.length }, 'bulk completion failed; each entry completes on its own');
      return 0;
    }
    let n = 0;
    held.forEach((h, i) => {
      if (done[i] === 1) {
        this.finished.add(h.e);
        n++;
      }
    });
    return n;
  }

  /**
   * Take no more entries from now on (entries held stay held). A fetch that
   * is already waiting on Redis may still hand out one more: callers that
   * must not act on later entries check their own flag in the processor.
   */
  pauseFetching(): void {
    void this.worker?.pause(true).catch(() => {});
  }

  /**
   * Move taken entries (given oldest first) back to the head of the queue,
   * keeping their order: each move pushes to the head, so they are moved
   * newest first, which leaves the oldest at the head.
   * Issued in order on one connection, so Redis runs them in order; an entry
   * whose lock lapsed meanwhile belongs to its next taker and is skipped.
   * Entries in `untake` were never worked on (a writer that cannot read them
   * hands them back for one that can): their takes are not counted either.
   */
  async moveBack(oldestFirst: readonly LogEntry[], o: { untake?: readonly LogEntry[] } = {}): Promise<void> {
    // Not taken, as far as the job's count goes: BullMQ's take (moveToActive) added 1 to `ats`
    // (attemptsStarted), which the next taker reads as "its last holder died holding it".
    await Promise.all((o.untake ?? []).map((e) => this.untake(e)));
    await Promise.all(
      [...oldestFirst].reverse().map((e) => {
        const t = this.taken.get(e);
        return t?.job.moveToWait(t.token).catch((err: unknown) => this.o.log.debug({ err, jobId: e.id }, 'entry not moved back (its lock lapsed)'));
      }),
    );
  }

  /** Undo the take's count of a held entry (only while its lock is still ours). */
  private async untake(e: LogEntry): Promise<void> {
    const t = this.taken.get(e);
    if (t?.token === undefined) return;
    const key = `${this.o.prefix}:${queueName(this.ref)}:${e.id}`;
    await this.o.connection.eval(UNTAKE_ENTRY, 1, key, t.token).catch((err: unknown) => this.o.log.debug({ err, jobId: e.id }, 'take count not undone'));
  }

  /** Add 1 to counter `field` kept in the entry's own hash; 0 when the entry is gone. */
  async countIn(entry: LogEntry, field: string): Promise<number> {
    const key = `${this.o.prefix}:${queueName(this.ref)}:${entry.id}`;
    return Number(await this.o.connection.eval(COUNT_IN_ENTRY, 1, key, field));
  }

  /** Stop taking entries, let held ones settle, release the worker (see the module comment). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeWorker();
    return this.closing;
  }

  private async closeWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const bound = this.o.lockDurationMs;
    // BullMQ keeps its blocking connection (a duplicate of ours) private; its
    // `client` resolves once it first connected, which may never happen.
    const blockingClient = (worker as unknown as { blockingConnection: { client: Promise<Redis> } }).blockingConnection.client;
    const blocking = await pTimeout(blockingClient, { milliseconds: bound }).catch(() => undefined);
    const up = blocking !== undefined && (await whenReady(this.o.connection, bound)) && (await whenReady(blocking, bound));
    if (!up) this.o.log.warn({ ms: bound }, 'Redis still down: force-closing the partition log consumer');
    await worker.close(!up);
  }
}

// BullMQ 5's moveToFinished-14.lua for a completed job with removeOnComplete
// (keepJobs.count 0), no parent, no deduplication id, no metrics, no fetch of
// the next job; the events stream trimmed once per call (trimEvents).
// Then, for the entries it completed, the backlog-size counters (partition-log.ts
// sizeOfJobs) go down in the same script: their writes (given) and their bytes
// (HSTRLEN of the stored `data`, read before the hash is deleted).
// KEYS: active, stalled, events, meta, the size hash, then one job key per entry;
// ARGV: id, token, writes per entry.
const COMPLETE_ENTRIES = `
local rcall = redis.call
local maxEvents = rcall('HGET', KEYS[4], 'opts.maxLenEvents') or 10000
rcall('XTRIM', KEYS[3], 'MAXLEN', '~', maxEvents)
local out = {}
local writes, bytes = 0, 0
for i = 6, #KEYS do
  local jobKey = KEYS[i]
  local a = (i - 6) * 3
  local id = ARGV[a + 1]
  local ok = 0
  if rcall('GET', jobKey .. ':lock') == ARGV[a + 2] and rcall('EXISTS', jobKey) == 1 and rcall('LREM', KEYS[1], -1, id) > 0 then
    writes = writes + tonumber(ARGV[a + 3])
    bytes = bytes + rcall('HSTRLEN', jobKey, 'data')
    rcall('DEL', jobKey .. ':lock')
    rcall('SREM', KEYS[2], id)
    rcall('DEL', jobKey, jobKey .. ':logs', jobKey .. ':dependencies', jobKey .. ':processed', jobKey .. ':failed', jobKey .. ':unsuccessful')
    rcall('XADD', KEYS[3], '*', 'event', 'completed', 'jobId', id, 'returnvalue', 'null', 'prev', 'active')
    ok = 1
  end
  out[#out + 1] = ok
end
if writes > 0 or bytes > 0 then
  rcall('HINCRBY', KEYS[5], 'w', -writes)
  rcall('HINCRBY', KEYS[5], 'b', -bytes)
end
return out`;

const COMPLETE_ENTRIES_SHA = createHash('sha1').update(COMPLETE_ENTRIES).digest('hex');

/** EVALSHA (the script body is not resent per call), EVAL once when Redis does not have it (NOSCRIPT). */
/** Requests in a job's payload (0 for anything else: a foreign entry). */
function writesOf(data: unknown): number {
  const reqs = (data as { reqs?: unknown } | null | undefined)?.reqs;
  return Array.isArray(reqs) ? reqs.length : 0;
}

async function evalCached(redis: Redis, script: string, sha: string, keys: readonly string[], argv: readonly string[]): Promise<unknown> {
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...argv);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(script, keys.length, ...keys, ...argv);
  }
}

// Only while the entry exists: one finished meanwhile must not get its hash back.
const COUNT_IN_ENTRY = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
return 0`;

// BullMQ's moveToActive adds 1 to `ats` (attemptsStarted) per take; undone only by the lock's holder.
const UNTAKE_ENTRY = `
if redis.call('GET', KEYS[1] .. ':lock') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'ats') == 1 then return redis.call('HINCRBY', KEYS[1], 'ats', -1) end
return -1`;

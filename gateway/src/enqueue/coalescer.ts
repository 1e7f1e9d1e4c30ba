import type { JobsOptions, Queue } from 'bullmq';
import { UnavailableError, jobIdOf, writeIdOf, type Logger, type WriteJob, type WriteRequest } from '@sluice/shared';
import type { GatewayMetrics } from '../metrics/index.ts';

// One instance: a Redis outage fails many requests, and each would otherwise pay for a stack trace.
const REDIS_REFUSED = new UnavailableError('the queue (Redis) refused the write (e.g. out of memory); nothing was queued; retry later', 1);

/**
 * The job was sent but Redis never confirmed it: a command timeout (a frozen
 * Redis) or a connection lost before the reply (a Redis crash). Redis may
 * still have queued it, so it may still be applied: the route answers 503
 * with the writeId and `writeStatus: "unknown"` (see `UnconfirmedWriteError`).
 */
export class EnqueueUnconfirmed extends Error {
  override readonly name = 'EnqueueUnconfirmed';
}
const UNCONFIRMED = new EnqueueUnconfirmed('Redis did not confirm the job');

/**
 * Did Redis refuse the job (an error reply: OOM, a script error), so it is
 * certainly not queued? Anything else (timeouts, dropped connections) leaves
 * the outcome unknown. ioredis names Redis' error replies `ReplyError`.
 */
function refusedByRedis(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

/** Options of the coalescer. */
export interface CoalescerOptions {
  nodeId: string;
  /** SLUICE_ENQUEUE_LINGER_MS: longest a request waits for company. */
  lingerMs: number;
  /** SLUICE_ENQUEUE_MAX_REQUESTS: a partition's batch is sent at once when it holds this many. */
  maxRequests: number;
  /** Options of every job (attempts, backoff, removeOnComplete). */
  jobOptions: JobsOptions;
  metrics: GatewayMetrics;
  log: Logger;
}

/** Requests bound for one job. All of them share one promise: settled when the job is in Redis or failed. */
interface Batch {
  partition: number;
  jobId: string;
  reqs: WriteRequest[];
  /** Linger timer; absent with linger 0 (an immediate that `send` tolerates firing late). */
  timer: NodeJS.Timeout | undefined;
  added: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Per-partition coalescing of accepted requests into jobs.
 *
 * States of a partition: *idle* (no open batch) → *open* (first request
 * started the linger timer; more requests join) → *sending* (timer fired or
 * the batch is full: one `addBulk`, a new batch may open meanwhile) → the
 * shared promise settles and every request in the batch gets its answer.
 *
 * A request is never split: it is one element of one job. If the add fails
 * (Redis down, frozen past the command timeout, out of memory), every request
 * of that job fails with 503 — nothing is half-accepted. A refusal by Redis
 * (an error reply) means not queued; a timeout or a lost reply means maybe
 * queued, and the 503 says so (`EnqueueUnconfirmed`).
 */
export class Coalescer {
  private readonly open: (Batch | undefined)[] = [];
  private readonly sending = new Set<Promise<void>>();
  private seq = 0;
  /** Partition that requests without a key join (see `keylessPartition`). */
  private keyless = 0;
  /** Requests held in memory or being sent. */
  pending = 0;

  constructor(
    private readonly queues: readonly Queue<WriteJob>[],
    private readonly o: CoalescerOptions,
  ) {}

  /**
   * Add `req` to the open batch of `partition`, assigning `req.id` (its
   * writeId) at once; returns the batch's promise, resolved when its job is in Redis.
   */
  add(partition: number, req: WriteRequest): Promise<void> {
    const batch = this.open[partition] ?? this.openBatch(partition);
    req.id = writeIdOf(batch.jobId, batch.reqs.length);
    batch.reqs.push(req);
    this.pending++;
    if (batch.reqs.length >= this.o.maxRequests) this.send(batch);
    return batch.added;
  }

  /**
   * Where a request without a key goes: into the batch already open for
   * keyless requests, else the next partition round-robin. Rotating per job
   * rather than per request spreads the load just as evenly and keeps
   * concurrent requests together (N partitions would otherwise cut each job by N).
   */
  keylessPartition(): number {
    if (this.open[this.keyless] === undefined) this.keyless = (this.keyless + 1) % this.queues.length;
    return this.keyless;
  }

  /** Send every open batch now and wait until all sends settled (shutdown). */
  async flush(): Promise<void> {
    for (const b of this.open) if (b !== undefined) this.send(b);
    await Promise.allSettled([...this.sending]);
  }

  private openBatch(partition: number): Batch {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const added = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Every request awaits `added`; this guard only keeps a rejection with no request left from going unhandled.
    added.catch(() => {});
    const batch: Batch = { partition, jobId: jobIdOf(partition, this.o.nodeId, this.seq++), reqs: [], timer: undefined, added, resolve, reject };
    // Linger 0 still coalesces what arrived in the same turn of the event loop.
    if (this.o.lingerMs === 0) setImmediate(() => this.send(batch));
    else batch.timer = setTimeout(() => this.send(batch), this.o.lingerMs);
    this.open[partition] = batch;
    return batch;
  }

  private send(batch: Batch): void {
    if (this.open[batch.partition] !== batch) return; // already sent
    this.open[batch.partition] = undefined;
    clearTimeout(batch.timer);
    const n = batch.reqs.length;
    const stopTimer = this.o.metrics.enqueueSeconds.startTimer();
    const job = { name: 'w', data: { v: 1 as const, reqs: batch.reqs }, opts: { ...this.o.jobOptions, jobId: batch.jobId } };
    const sending = this.queues[batch.partition]!
      .addBulk([job])
      .then(
        () => {
          stopTimer();
          this.o.metrics.jobsEnqueued.inc();
          this.o.metrics.requestsEnqueued.inc(n);
          batch.resolve();
        },
        (err: unknown) => {
          this.o.metrics.enqueueFailures.inc();
          const refused = refusedByRedis(err);
          this.o.log.warn({ err: { message: (err as Error).message }, jobId: batch.jobId, requests: n, outcome: refused ? 'refused' : 'unknown' }, 'enqueue failed; answering 503');
          batch.reject(refused ? REDIS_REFUSED : UNCONFIRMED);
        },
      )
      .finally(() => {
        this.pending -= n;
        this.sending.delete(sending);
      });
    this.sending.add(sending);
  }
}

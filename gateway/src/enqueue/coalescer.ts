import { Linger, after } from '@sluice/shared/batching/linger.ts';
import { UnavailableError } from '@sluice/shared/errors/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import type { PayloadVersion, WriteRequest } from '@sluice/shared/queue/contract.ts';
import { writePayload } from '@sluice/shared/queue/payload.ts';
import { jobIdOf, ownerTag, writeIdOf } from '@sluice/shared/queue/ids.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
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
  /** SLUICE_ADAPTIVE_LINGER: wait less than `lingerMs` while requests of a partition come alone (shared/src/batching/linger.ts). */
  adaptiveLinger?: boolean;
  /** SLUICE_ENQUEUE_MAX_REQUESTS: a partition's batch is sent at once when it holds this many. */
  maxRequests: number;
  /** SLUICE_HMAC_SECRET (or the public no-auth one): the key of writeIds' owner tags (queue/ids.ts). */
  secret: string;
  /** SLUICE_PAYLOAD_VERSION: the job payload version written (queue/payload.ts); default 1. */
  payloadVersion?: PayloadVersion;
  /** SLUICE_BUILD_ID: carried by v2 payloads. */
  build?: string;
  metrics: GatewayMetrics;
  log: Logger;
}

/** Requests bound for one job. All of them share one promise: settled when the job is in Redis or failed. */
interface Batch {
  partition: PartitionRef;
  jobId: string;
  reqs: WriteRequest[];
  /** Cancels the linger timer. */
  cancelLinger: () => void;
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
  /** The open batch of each partition, by name. */
  private readonly open = new Map<string, Batch>();
  /** Each partition's linger, by name (adaptive: it follows that partition's load). */
  private readonly lingers = new Map<string, Linger>();
  private readonly sending = new Set<Promise<void>>();
  private seq = 0;
  /** Rotates over the partitions that requests without a key join (see `keylessPartition`). */
  private keyless = 0;
  private lastKeyless: PartitionRef | undefined;
  /** Requests held in memory or being sent. */
  pending = 0;

  constructor(
    private readonly logs: PartitionLogs,
    private readonly o: CoalescerOptions,
  ) {}

  /**
   * Add `req` to the open batch of `partition`, assigning `req.id` (its
   * writeId) at once; returns the batch's promise, resolved when its job is in Redis.
   */
  add(partition: PartitionRef, req: WriteRequest, owner: string): Promise<void> {
    const batch = this.open.get(partition.name) ?? this.openBatch(partition);
    req.id = writeIdOf(batch.jobId, batch.reqs.length, (base) => ownerTag(this.o.secret, owner, base));
    batch.reqs.push(req);
    this.pending++;
    if (batch.reqs.length >= this.o.maxRequests) this.send(batch, 'full');
    return batch.added;
  }

  /**
   * Where a request without a key goes: into the batch already open for
   * keyless requests, else the next partition round-robin. Rotating per job
   * rather than per request spreads the load just as evenly and keeps
   * concurrent requests together (N partitions would otherwise cut each job by N).
   */
  keylessPartition(candidates: readonly PartitionRef[]): PartitionRef {
    const last = this.lastKeyless;
    if (last !== undefined && this.open.has(last.name) && candidates.some((c) => c.name === last.name)) return last;
    this.keyless = (this.keyless + 1) % candidates.length;
    this.lastKeyless = candidates[this.keyless]!;
    return this.lastKeyless;
  }

  /** Send every open batch now and wait until all sends settled (shutdown). */
  async flush(): Promise<void> {
    for (const b of [...this.open.values()]) this.send(b, 'flush');
    await Promise.allSettled([...this.sending]);
  }

  private openBatch(partition: PartitionRef): Batch {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const added = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Every request awaits `added`; this guard only keeps a rejection with no request left from going unhandled.
    added.catch(() => {});
    const batch: Batch = { partition, jobId: jobIdOf(partition.name, this.o.nodeId, this.seq++), reqs: [], cancelLinger: () => {}, added, resolve, reject };
    // Linger 0 still coalesces what arrived in the same turn of the event loop (`after`).
    const wait = this.lingerOf(partition).currentMs;
    this.o.metrics.enqueueLinger.observe(wait / 1000);
    batch.cancelLinger = after(wait, () => this.send(batch, 'linger'));
    this.open.set(partition.name, batch);
    return batch;
  }

  private lingerOf(partition: PartitionRef): Linger {
    let l = this.lingers.get(partition.name);
    if (l === undefined) {
      l = new Linger(this.o.lingerMs, this.o.adaptiveLinger ?? false);
      this.lingers.set(partition.name, l);
    }
    return l;
  }

  /** Send the batch; `why` feeds the adaptive linger (a shutdown flush says nothing about the load). */
  private send(batch: Batch, why: 'linger' | 'full' | 'flush'): void {
    if (this.open.get(batch.partition.name) !== batch) return; // already sent
    this.open.delete(batch.partition.name);
    batch.cancelLinger();
    const n = batch.reqs.length;
    if (why !== 'flush') this.lingerOf(batch.partition).sealed(n, why === 'full');
    const stopTimer = this.o.metrics.enqueueSeconds.startTimer();
    const sending = this.logs
      .get(batch.partition)
      .append([{ id: batch.jobId, data: writePayload(batch.reqs, this.o.payloadVersion ?? 1, this.o.build ?? '') }])
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

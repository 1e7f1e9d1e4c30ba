import { WaitingError, type Job, type Worker } from 'bullmq';
import type { Config } from '@sluice/shared/config/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { queueName } from '@sluice/shared/queue/partition.ts';
import { closeRedis, createRedis, whenReady, type Redis } from '@sluice/shared/redis/index.ts';
import { Batcher } from '../batcher/batcher.ts';
import type { BatchJob } from '../flush/types.ts';
import type { WriterMetrics } from '../metrics/metrics.ts';
import { FencedError, type Fence } from './fence.ts';
import { toBatchJob } from './job.ts';
import { OrderedWorker } from './ordered-worker.ts';
import type { PartitionGrant } from './ownership.ts';
import { countSoloFlush, splitSuspects } from './suspects.ts';

/**
 * BullMQ stalls a job when its lock lapses (its writer died or froze), and a
 * takeover hands a dead owner's jobs back (recovery/orphans.ts, counted as a
 * stall). A stalled job is redelivered and deduped by `sluice.applied_jobs`;
 * one stalled more often than this is failed by BullMQ itself. That is a
 * backstop only: the writer dead-letters a crash-looping job after
 * 1 + MAX_SOLO_FLUSHES crashes (deadletters/quarantine.ts), first.
 */
export const MAX_STALLED_COUNT = 5;

/** What a partition consumer needs from the writer. */
export interface ConsumerDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: WriterMetrics;
  /** Flush one batch of this partition: one transaction (checking `fence` when given), then acks. */
  flush(partition: number, jobs: readonly BatchJob[], attempt: number, fence?: Fence): Promise<void>;
  /** ms before retrying a failed batch, or null to give its jobs up. */
  retryDelay(partition: number, err: unknown, attempt: number): number | null;
}

/** A job taken from BullMQ that this consumer hands back to the queue head. */
interface Returned {
  seq: number;
  job: Job;
  token: string | undefined;
  settle(): void;
}

/**
 * One partition queue consumed by one BullMQ Worker feeding one batcher.
 * The worker holds up to SLUICE_WRITER_CONCURRENCY jobs active at once; each
 * job's processor resolves when the batch holding it has committed, and
 * BullMQ then marks the job done (while waiting, the worker keeps renewing
 * the locks of its active jobs every lockDuration/2, so a slow or retried
 * flush does not make them stall).
 *
 * Under a lease (a grant) every batch transaction checks the fencing token.
 * If a flush is fenced out (a newer owner exists), no job of this consumer is
 * failed or completed: they are moved back to the head of the wait list,
 * newest first so the queue order is kept, and the owner is told to release
 * the partition. A redelivered job is a crash suspect: it is flushed in a
 * transaction of its own and dead-lettered unapplied after MAX_SOLO_FLUSHES
 * such flushes that never finished (crash-loop quarantine).
 */
export class PartitionConsumer {
  private readonly batcher: Batcher<BatchJob>;
  private readonly log: Logger;
  private redis: Redis | undefined;
  private worker: Worker | undefined;
  private stopping: Promise<void> | undefined;
  private seq = 0;
  private returning: Returned[] = [];
  private returnedAll = false;
  private readonly suspects = new WeakSet<BatchJob>();
  /** The worker's connection dropped: no job taken from now on may be committed by this consumer. */
  private interrupted = false;

  /**
   * @param grant the lease this partition is held under (none: `AllPartitions`)
   * @param onInterrupted called once when the worker's Redis connection drops
   *   (see `interrupt`); the owner must stop this consumer and, after handing
   *   the orphans back, start a new one. Under a grant, `grant.lost` is called.
   */
  constructor(
    readonly partition: number,
    private readonly deps: ConsumerDeps,
    private readonly grant?: PartitionGrant,
    private readonly onInterrupted?: (reason: string) => void,
  ) {
    this.log = deps.log.child({ partition });
    this.batcher = new Batcher<BatchJob>({
      maxRows: deps.config.SLUICE_BATCH_MAX_ROWS,
      lingerMs: deps.config.SLUICE_BATCH_LINGER_MS,
      rowsOf: (j) => j.rows,
      flush: (jobs, attempt) => this.flush(jobs, attempt),
      retryDelay: (err, attempt) => deps.retryDelay(partition, err, attempt),
    });
  }

  /** Open the worker's connection and start taking jobs. */
  async start(): Promise<void> {
    const c = this.deps.config;
    // Workers block on Redis (BZPOPMIN): `maxRetriesPerRequest: null`, no command timeout.
    this.redis = createRedis({ url: c.REDIS_URL, role: 'worker', timeoutMs: c.SLUICE_REDIS_TIMEOUT_MS, name: `sluice-writer:${c.SLUICE_QUEUE_PREFIX}:p${this.partition}` });
    this.worker = new OrderedWorker(queueName(this.partition), (job: Job, token?: string) => this.process(job, token), {
      connection: this.redis,
      prefix: c.SLUICE_QUEUE_PREFIX,
      concurrency: c.SLUICE_WRITER_CONCURRENCY,
      lockDuration: c.SLUICE_LOCK_DURATION_MS,
      // Check for stalled jobs (a dead writer's) twice per lock period.
      stalledInterval: Math.max(500, Math.floor(c.SLUICE_LOCK_DURATION_MS / 2)),
      maxStalledCount: MAX_STALLED_COUNT,
      // The gateway sets removeOnComplete per job; this is only the fallback. Failed jobs stay for inspection.
      removeOnComplete: { count: 0 },
      autorun: true,
    });
    this.redis.on('close', () => this.interrupt());
    this.worker.on('error', (err) => this.log.warn({ err }, 'bullmq worker error'));
    this.worker.on('failed', (job, err) => {
      this.deps.metrics.jobsFailed.inc({ partition: String(this.partition) });
      this.log.error({ err, jobId: job?.id, attemptsMade: job?.attemptsMade }, 'job failed');
    });
    await this.worker.waitUntilReady();
  }

  /**
   * The worker's connection dropped. A job fetch (BullMQ's moveToActive) may
   * have run in Redis without its reply reaching us: that job sits in
   * `active` under a lock nobody renews, and ioredis resends the fetch on
   * reconnect, which takes the NEXT job. Committing that one (or any later)
   * before the orphan would break per-key order. So the partition is given
   * up: fetching is paused, the open batch (jobs taken before the drop) still
   * commits, and every other job this consumer holds is left in `active`,
   * where the orphan is too, in fetch order. The next consumer hands them all
   * back to the queue head in that order before it takes anything
   * (recovery/orphans.ts). Moving them back from here instead would put them
   * behind the orphan.
   */
  private interrupt(): void {
    if (this.interrupted || this.stopping) return;
    this.interrupted = true;
    void this.worker?.pause(true).catch(() => {});
    const reason = 'worker lost its Redis connection: a job fetch may have run without its reply';
    this.log.warn(reason);
    this.deps.metrics.interruptions.inc({ partition: String(this.partition) });
    if (this.grant) this.grant.lost(reason);
    else this.onInterrupted?.(reason);
  }

  private async process(job: Job, token: string | undefined): Promise<void> {
    const seq = this.seq++;
    // Left in `active` for the next consumer (see `interrupt`).
    if (this.interrupted) throw new WaitingError();
    if (this.grant && !this.grant.valid()) {
      this.grant.lost('lease may have lapsed (not renewed in time)');
      return this.giveBack(seq, job, token);
    }
    const bj = toBatchJob(job);
    // Gateway jobs have attempts: 1, so a second start followed a stall or a
    // takeover hand-back: the job's last holder died or froze holding it.
    if (bj.attempts > 1) this.suspects.add(bj);
    try {
      await this.batcher.submit(bj);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      this.grant?.lost(err.message);
      return this.giveBack(seq, job, token);
    }
  }

  /** Flush a batch: first deliveries together, each suspect alone (counted first), in queue order. */
  private async flush(jobs: readonly BatchJob[], attempt: number): Promise<void> {
    for (const run of splitSuspects(jobs, (j) => this.suspects.has(j))) {
      // Once per batch, not per retry: a database outage must not count as a crash.
      if (run.suspect && attempt === 1) await countSoloFlush(this.redis!, `${this.deps.config.SLUICE_QUEUE_PREFIX}:${queueName(this.partition)}:${run.jobs[0]!.id}`, run.jobs[0]!);
      await this.deps.flush(this.partition, run.jobs, attempt, this.grant?.fence);
    }
  }

  /**
   * Hold a job this consumer may not commit until `stop()` moves it back to
   * the queue head; then tell BullMQ (WaitingError: neither done nor failed).
   * After an interruption the job is left in `active` at once (see `interrupt`).
   */
  private giveBack(seq: number, job: Job, token: string | undefined): Promise<void> {
    return new Promise<void>((_, reject) => {
      const r: Returned = { seq, job, token, settle: () => reject(new WaitingError()) };
      if (this.interrupted) r.settle();
      else if (this.returnedAll) void this.moveBack([r]);
      else this.returning.push(r);
    });
  }

  /**
   * Move jobs back to the head of the wait list. Each move pushes to the head,
   * so newest first leaves the oldest at the head: the queue order is kept.
   * After an interruption they stay in `active` for the next consumer.
   */
  private async moveBack(jobs: Returned[]): Promise<void> {
    const ordered = [...jobs].sort((a, b) => b.seq - a.seq);
    if (!this.interrupted) {
      // Issued in order on one connection, so Redis runs them in order; a job whose lock
      // lapsed meanwhile belongs to its next taker, and its move fails harmlessly.
      await Promise.all(ordered.map((r) => r.job.moveToWait(r.token).catch((err: unknown) => this.log.debug({ err, jobId: r.job.id }, 'job not moved back (lock lapsed)'))));
      if (ordered.length > 0) this.log.warn({ jobs: ordered.length }, 'fenced out: uncommitted jobs moved back to the queue head');
    }
    for (const r of ordered) r.settle();
  }

  /**
   * Close the BullMQ worker; if its connections are down, wait (bounded) for
   * them first. A graceful close disconnects the blocking connection and waits
   * for its 'end', which ioredis never emits for a client disconnected while
   * it waits to reconnect: the close would hang. Still down after the bound:
   * force-close (jobs still active stay so; their locks lapse, or the next
   * owner hands them back, and `sluice.applied_jobs` dedupes any redelivery).
   */
  private async closeWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const bound = this.deps.config.SLUICE_LOCK_DURATION_MS;
    // BullMQ keeps the blocking connection to itself (a duplicate of ours); its
    // `client` resolves once it first connected, which may never happen.
    const blockingClient = (worker as unknown as { blockingConnection: { client: Promise<Redis> } }).blockingConnection.client;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const blocking = await Promise.race([blockingClient, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), bound)))]).finally(() => clearTimeout(timer));
    const up = blocking !== undefined && (await whenReady(this.redis!, bound)) && (await whenReady(blocking, bound));
    if (!up) this.log.warn({ ms: bound }, 'Redis still down: force-closing the worker');
    await worker.close(!up);
  }

  /**
   * Stop taking jobs, commit the open batch (or, when fenced out, move the
   * jobs back), let active jobs finish, close the connection. Every step runs
   * even if one fails. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      let firstError: unknown;
      const step = async (name: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          firstError ??= err;
          this.log.warn({ err, step: name }, 'partition stop step failed');
        }
      };
      // BullMQ stops fetching at once and resolves once every active job settled …
      const closing = this.closeWorker();
      closing?.catch(() => {});
      // … which they do as the open batch, sealed now (linger no longer applies), commits;
      await step('batcher.stop', () => this.batcher.stop());
      // jobs of a fenced-out batch wait for this, with the connection still open.
      this.returnedAll = true;
      await step('move back', () => this.moveBack(this.returning.splice(0)));
      await step('worker.close', async () => closing);
      await step('redis.quit', async () => this.redis && closeRedis(this.redis));
      if (firstError !== undefined) throw firstError;
    })();
    return this.stopping;
  }
}

import { Worker, type Job } from 'bullmq';
import type { Config } from '@sluice/shared/config/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { queueName } from '@sluice/shared/queue/partition.ts';
import { createRedis, type Redis } from '@sluice/shared/redis/index.ts';
import { Batcher } from '../batcher/batcher.ts';
import type { BatchJob } from '../flush/types.ts';
import type { WriterMetrics } from '../metrics/metrics.ts';
import { toBatchJob } from './job.ts';

/**
 * BullMQ stalls a job when its lock lapses (its writer died or froze). One
 * stall is normal (a writer killed mid-batch); its jobs are redelivered and
 * deduped by `sluice.applied_jobs`. A job stalled more often than this is
 * failed by BullMQ and kept in the failed set.
 */
export const MAX_STALLED_COUNT = 3;

/** What a partition consumer needs from the writer. */
export interface ConsumerDeps {
  config: Readonly<Config>;
  log: Logger;
  metrics: WriterMetrics;
  /** Flush one batch of this partition: one transaction, then acks. */
  flush(partition: number, jobs: readonly BatchJob[], attempt: number): Promise<void>;
  /** ms before retrying a failed batch, or null to fail its jobs through BullMQ. */
  retryDelay(partition: number, err: unknown, attempt: number): number | null;
}

/**
 * One partition queue consumed by one BullMQ Worker feeding one batcher.
 * The worker holds up to SLUICE_WRITER_CONCURRENCY jobs active at once; each
 * job's processor resolves when the batch holding it has committed, and
 * BullMQ then marks the job done (while waiting, the worker keeps renewing
 * the locks of its active jobs every lockDuration/2, so a slow or retried
 * flush does not make them stall).
 */
export class PartitionConsumer {
  private readonly batcher: Batcher<BatchJob>;
  private readonly log: Logger;
  private redis: Redis | undefined;
  private worker: Worker | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly partition: number,
    private readonly deps: ConsumerDeps,
  ) {
    this.log = deps.log.child({ partition });
    this.batcher = new Batcher<BatchJob>({
      maxRows: deps.config.SLUICE_BATCH_MAX_ROWS,
      lingerMs: deps.config.SLUICE_BATCH_LINGER_MS,
      rowsOf: (j) => j.rows,
      flush: (jobs, attempt) => deps.flush(partition, jobs, attempt),
      retryDelay: (err, attempt) => deps.retryDelay(partition, err, attempt),
    });
  }

  /** Open the worker's connection and start taking jobs. */
  async start(): Promise<void> {
    const c = this.deps.config;
    // Workers block on Redis (BZPOPMIN): `maxRetriesPerRequest: null`, no command timeout.
    this.redis = createRedis({ url: c.REDIS_URL, role: 'worker', timeoutMs: c.SLUICE_REDIS_TIMEOUT_MS, name: `sluice-writer-p${this.partition}` });
    this.worker = new Worker(queueName(this.partition), (job: Job) => this.process(job), {
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
    this.worker.on('error', (err) => this.log.warn({ err }, 'bullmq worker error'));
    this.worker.on('failed', (job, err) => {
      this.deps.metrics.jobsFailed.inc({ partition: String(this.partition) });
      this.log.error({ err, jobId: job?.id, attemptsMade: job?.attemptsMade }, 'job failed');
    });
    await this.worker.waitUntilReady();
  }

  private async process(job: Job): Promise<void> {
    await this.batcher.submit(toBatchJob(job));
  }

  /**
   * Stop taking jobs, commit the open batch, let active jobs finish, close the
   * connection. Every step runs even if one fails. Idempotent.
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
      // Seal the open batch now (linger no longer applies) …
      const drained = this.batcher.stop();
      // … while BullMQ stops fetching and waits for active jobs, which settle as their batches commit.
      await step('worker.close', async () => this.worker?.close());
      await step('batcher.stop', () => drained);
      await step('redis.quit', async () => this.redis?.quit());
      if (firstError !== undefined) throw firstError;
    })();
    return this.stopping;
  }
}

import type { Logger } from '@sluice/shared/log/index.ts';
import type { RedisFactory } from '@sluice/shared/redis/factory.ts';
import type { Fence } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { BatchJob } from '../flush/types.ts';
import type { WriterMetrics } from '../metrics/metrics.ts';

/** What a partition consumer (partition-consumer.ts) is given: its settings, the writer's flush and retry policy, the stall limit. */

/**
 * The log stalls a job when its lock lapses (its writer died or froze), and a
 * takeover hands a dead owner's jobs back (partition-log/orphans.ts, counted
 * as a stall). A stalled job is redelivered and deduped by
 * `sluice.applied_jobs`; one stalled more often than this is failed by the
 * log itself, and a job the log fails is an acknowledged write that is
 * neither committed nor dead-lettered: lost. So the limit is far out of reach
 * of an innocent job: a starved writer whose leases flap hands the same jobs
 * back once per takeover without ever flushing them (seen: 5 was reached in a
 * shard move under load). Crash loops are caught first, by the writer: it
 * dead-letters a job after 1 + MAX_SOLO_FLUSHES crashes during its flush
 * (deadletters/quarantine.ts). This is the backstop for a job that kills its
 * writer before any flush, e.g. while it is fetched.
 */
export const MAX_STALLED_COUNT = 1000;

/** How a consumer takes and batches jobs. */
export interface ConsumerSettings {
  /** SLUICE_QUEUE_PREFIX */
  prefix: string;
  /** SLUICE_WRITER_CONCURRENCY: jobs held at once. */
  concurrency: number;
  /** SLUICE_LOCK_DURATION_MS */
  lockDurationMs: number;
  /** SLUICE_BATCH_MAX_ROWS */
  maxRows: number;
  /** SLUICE_BATCH_LINGER_MS */
  lingerMs: number;
  /** SLUICE_ADAPTIVE_LINGER (absent: fixed) */
  adaptiveLinger?: boolean;
  /** Read payloads up to this version only (test-only `payload-read-max`: an older build); default: every version this build knows. */
  payloadMaxVersion?: number;
}

/** What a partition consumer needs from the writer. */
export interface ConsumerDeps {
  settings: ConsumerSettings;
  /** Opens the consumer's own `worker` connection. */
  redis: RedisFactory;
  log: Logger;
  metrics: WriterMetrics;
  /**
   * Flush one batch of this partition: one transaction (checking `fence` when
   * given; shared with other partitions' batches under group commit, unless
   * `alone`), then the after-commit steps. Resolves with the number of jobs
   * the transaction committed, these included (the adaptive linger's company).
   */
  flush(partition: PartitionRef, jobs: readonly BatchJob[], attempt: number, fence?: Fence, alone?: boolean): Promise<number>;
  /** ms before retrying a failed batch, or null to give its jobs up. */
  retryDelay(partition: PartitionRef, err: unknown, attempt: number): number | null;
  /** Under group commit: let a shared transaction that is starting seal this partition's open batch early; returns the call that ends it. */
  enlist?(partition: PartitionRef, sealOpen: () => void): () => void;
}

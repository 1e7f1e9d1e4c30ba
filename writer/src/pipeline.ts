import type { Logger } from '@sluice/shared/log/index.ts';
import type { Refusal } from '@sluice/shared/sql/dead-letters.ts';
import { FencedError, type Fence } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import { backoffMs } from './batcher/backoff.ts';
import { classify, errorCode } from './flush/classify.ts';
import { flushBatch, flushGroup, type FlushContext } from './flush/flush.ts';
import { GroupCommitter } from './flush/group-commit.ts';
import type { AfterCommitHook } from './flush/hooks.ts';
import type { BatchJob, FlushResult, Member } from './flush/types.ts';
import type { WriterMetrics } from './metrics/metrics.ts';
import type { ConsumerDeps } from './partitions/consumer-deps.ts';
import { SealedRangeError, StaleMapError } from './sharding/move-log-hook.ts';

/**
 * Attempts of a batch failing with an error that is neither retryable nor
 * poison (a writer bug, 58xxx I/O, XX000) before the next attempt isolates:
 * it bisects the batch and dead-letters the requests that fail alone
 * (RELIABILITY row 4). Only if that attempt fails too do the jobs fail
 * through the log (an error no single request explains, e.g. disk I/O).
 */
export const FATAL_ATTEMPTS = 5;

/** What the pipeline runs with. */
export interface PipelineDeps {
  /** The flush context of the shard a partition commits to. */
  contextOf(partition: PartitionRef): FlushContext;
  /** After COMMIT, in order, before the jobs are done (flush/hooks.ts). */
  afterCommit: readonly AfterCommitHook[];
  metrics: WriterMetrics;
  log: Logger;
  /** A flush slower than this is logged (a quarter of the lock duration: locks are renewed every half). */
  slowMs: number;
  /**
   * Before each flush: requests to refuse (by writeId), after waiting as long
   * as some request must wait (sharding/placement.ts); may also mark requests.
   */
  beforeFlush?(partition: PartitionRef, jobs: readonly BatchJob[]): Promise<ReadonlyMap<string, Refusal>>;
  /** A retry the shard map explains: look at the store again (sharding/move-log-hook.ts StaleMapError). */
  refreshMap?(): Promise<void>;
  /**
   * Group commit (SLUICE_GROUP_COMMIT, flush/group-commit.ts): first attempts
   * of batches of one shard share a transaction, at most `maxRows` rows;
   * absent: every batch commits in a transaction of its own.
   */
  groupCommit?: { maxRows: number };
}

/** The flush and retry policy every partition consumer runs. */
export function pipeline(d: PipelineDeps): Pick<ConsumerDeps, 'flush' | 'retryDelay' | 'enlist'> {
  const { log, metrics } = d;
  /** A group's transaction: several batches in one (fast path only), or a lone one as ever. */
  const commitTogether = async (members: readonly (Member & { partition: PartitionRef })[]): Promise<FlushResult[]> => {
    const ctx = d.contextOf(members[0]!.partition);
    if (members.length > 1) return flushGroup(ctx, members);
    return [await flushBatch(ctx, members[0]!.jobs, members[0]!)];
  };
  const groups = d.groupCommit && new GroupCommitter({ maxRows: d.groupCommit.maxRows, flush: commitTogether, log, onFallback: () => metrics.groupFallbacks.inc() });
  /** Commit the batch: with others of its shard when it may, else (or when that group failed) alone. */
  const commit = async (partition: PartitionRef, jobs: readonly BatchJob[], attempt: number, fence: Fence | undefined, alone: boolean): Promise<{ result: FlushResult; seconds: number; together: number }> => {
    const rejected = await d.beforeFlush?.(partition, jobs);
    const refused = rejected && rejected.size > 0 ? { rejected } : {};
    if (groups && attempt === 1 && !alone) {
      const grouped = await groups.commit({ partition, jobs, fence, ...refused });
      if ('result' in grouped) return grouped;
      if ('failed' in grouped) throw grouped.failed;
    }
    const t0 = performance.now();
    const result = await flushBatch(d.contextOf(partition), jobs, { partition, fence, isolateFatal: attempt > FATAL_ATTEMPTS, ...refused });
    return { result, seconds: (performance.now() - t0) / 1000, together: jobs.length };
  };
  return {
    ...(groups ? { enlist: (p: PartitionRef, sealOpen: () => void) => groups.enlist(p, sealOpen) } : {}),
    async flush(partition: PartitionRef, jobs: readonly BatchJob[], attempt: number, fence?: Fence, alone = false) {
      const { result, seconds, together } = await commit(partition, jobs, attempt, fence, alone);
      const ms = seconds * 1000;
      for (const hook of d.afterCommit) await hook({ partition, jobs, result, seconds });
      if (result.stats.dead.length > 0) log.warn({ partition: partition.name, dead: result.stats.dead }, 'requests dead-lettered');
      // Locks are renewed every lockDuration/2 while we wait; a flush near that is a sign of trouble.
      if (ms > d.slowMs) log.warn({ partition: partition.name, ms: Math.round(ms), rows: result.stats.rows }, 'slow flush: keep flushes well under SLUICE_LOCK_DURATION_MS/2 (lower SLUICE_BATCH_MAX_ROWS?)');
      else log.debug({ partition: partition.name, ms: Math.round(ms), ...result.stats, dead: result.stats.dead.length }, 'batch committed');
      return together;
    },
    retryDelay(partition: PartitionRef, err: unknown, attempt: number) {
      // A newer owner holds the partition: nothing to retry, the consumer hands its jobs back.
      if (err instanceof FencedError) return null;
      if (err instanceof StaleMapError) {
        void d.refreshMap?.();
        return backoffMs(attempt);
      }
      // A late write of a range under verification: the mover waits for it and unseals; never a poison.
      if (err instanceof SealedRangeError) return backoffMs(attempt);
      const kind = classify(err);
      const sqlstate = errorCode(err);
      if (kind === 'retry' || attempt <= FATAL_ATTEMPTS) {
        const delay = backoffMs(attempt);
        metrics.retries.inc({ sqlstate, kind });
        const next = kind !== 'retry' && attempt === FATAL_ATTEMPTS ? 'isolating the guilty requests next' : 'retrying the same batch';
        log.warn({ partition: partition.name, err, sqlstate, kind, attempt, delay }, `batch failed; ${next}`);
        return delay;
      }
      log.error({ partition: partition.name, err, sqlstate, kind, attempt }, 'batch failed for good, even isolated; failing its jobs through the log');
      return null;
    },
  };
}

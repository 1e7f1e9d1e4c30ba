import type { PoolClient } from '@sluice/shared/db/pool.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { BatchJob, FlushResult, RequestResult, WorkItem } from './types.ts';

/**
 * Where other features join a batch, registered once at wiring time
 * (writer.ts), never by editing the flush:
 *
 * - in the transaction (`InTransactionHook`): work that must commit
 *   atomically with the batch (a read model kept exact). It runs after the
 *   batch's statements (after poison bisection, once, over what was applied),
 *   before COMMIT, on the batch's connection. A hook that throws fails the
 *   attempt; the batch is retried like any other failure.
 * - after the commit (`AfterCommitHook`): work that follows a durable commit
 *   and must finish before the batch's jobs are marked done (cache
 *   write-through, acks to waiting gateways, …). Hooks run in registration
 *   order, each awaited: the cache is updated before the ack goes out, so a
 *   client that reads right after its committed ack sees its write. The last
 *   one waits for the standbys (writer/src/confirm/); a hook that throws
 *   makes the batch retry, which after a failover replays it on the new
 *   primary (`sluice.applied_jobs` skips what survived).
 */

/**
 * Work inside the batch transaction just before its statements run, given
 * every request about to be applied (some may still be dead-lettered by the
 * bisection). A read model reads the before-images of the rows the batch
 * will update or delete here; it runs again in every retried attempt.
 */
export type BeforeStatementsHook = (reqs: readonly WriteRequest[], client: PoolClient) => Promise<void>;

/**
 * The applied part of a batch, as the in-transaction hooks see it. Under
 * group commit (group-commit.ts) a transaction holds the batches of several
 * partitions of one shard: the hooks run once, over all of them, and
 * `partition` names the group's first member (whose after-commit steps take
 * what a hook keeps per partition, e.g. the view groups to fence).
 */
export interface AppliedBatch {
  partition: PartitionRef | undefined;
  /** Each applied request with what its statements did (dead-lettered and duplicate requests are absent). */
  applied: ReadonlyMap<WorkItem, RequestResult>;
}

/** Work inside the batch transaction (see the module comment). */
export type InTransactionHook = (batch: AppliedBatch, client: PoolClient) => Promise<void>;

/** A committed batch, as the after-commit hooks see it. */
export interface CommittedBatch {
  partition: PartitionRef;
  jobs: readonly BatchJob[];
  result: FlushResult;
  /** Seconds from BEGIN to COMMIT (of the shared transaction, under group commit: `result.stats.group`). */
  seconds: number;
}

/** Work after COMMIT, before the jobs are done (see the module comment). */
export type AfterCommitHook = (batch: CommittedBatch) => Promise<void> | void;

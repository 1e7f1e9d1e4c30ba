import type { WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import type { WriteJob, WriteOutcome, WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { Refusal } from '@sluice/shared/sql/dead-letters.ts';
import type { Fence } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';

/** A job of a partition's log as the batcher and the flush see it. */
export interface BatchJob {
  /** Job id: the dedupe key in `sluice.applied_jobs`. */
  id: string;
  data: WriteJob;
  /** Rows the job carries (sum of its requests' ops): the batcher's unit of size. */
  rows: number;
  /** Times the log has started this job, recorded with dead letters. */
  attempts: number;
  /**
   * Set by the partition consumer for a job whose solo flushes kept crashing
   * or stalling the writer (deadletters/quarantine.ts): its requests are
   * dead-lettered with this rejection instead of being applied.
   */
  quarantine?: Rejection;
}

/**
 * One partition's batch as a transaction holds it: alone, or with other
 * partitions' batches of the same shard (group commit, group-commit.ts).
 */
export interface Member {
  /** The partition whose batch this is (for the hooks). */
  partition?: PartitionRef | undefined;
  jobs: readonly BatchJob[];
  /**
   * Partition ownership check, run right after BEGIN (sql/partition-fences.ts):
   * throws when a newer owner exists, and holds a row lock until COMMIT.
   */
  fence?: Fence | undefined;
  /** Requests refused before the transaction (by writeId): dead-lettered with this, never applied (sharding/placement.ts). */
  rejected?: ReadonlyMap<string, Refusal> | undefined;
}

/** One request of a batch with the job that carried it. */
export interface WorkItem {
  job: BatchJob;
  req: WriteRequest;
}

/** What applying one request did: rows affected per op, primary keys when `ret` asked, rows when `rows` asked. */
export interface RequestResult {
  n: number[];
  keys?: (Record<string, unknown> | null)[];
  /** `row_to_json` text per op (null: none written), for `Prefer: return=representation`. */
  rows?: (string | null)[];
  /** The rows it left, in statement order, for the cache (when statements return rows). */
  cache?: WriteThroughRow[];
}

/** A request the database (or the contract check) refused: it goes to `sluice.dead_letters`. */
export type Rejection = Refusal;

/** An outcome addressed to the gateway node waiting for it. */
export interface AddressedOutcome {
  node: string;
  outcome: WriteOutcome;
  /** `Sluice-Ack: replicated`: sent only once a standby has the commit (writer.ts). */
  rep?: true;
}

/** Counts of one committed batch, for metrics and logs. */
export interface FlushStats {
  jobs: number;
  /** Jobs found in `sluice.applied_jobs` already (redelivered): not applied again. */
  skippedJobs: number;
  requests: number;
  /**
   * Rows the statements affected (rowCount sum). In a shared transaction
   * (`group`) the statements held every member's rows: this is the sum of
   * the per-op counts of this member's requests (exact for inserts and
   * upserts; an update or delete counts a row only when its whole statement
   * matched every row, as `n` does).
   */
  rows: number;
  /** Requests skipped as repeats of an earlier Idempotency-Key. */
  duplicates: number;
  dead: { table: string; sqlstate: string }[];
  /** The batch needed the savepoint bisection. */
  bisected: boolean;
  /** Set when the batch shared its transaction with other partitions' batches (group commit). */
  group?: GroupStats;
}

/** The transaction a group-committed batch shared. */
export interface GroupStats {
  /** Partitions whose batches the transaction held. */
  members: number;
  /** Rows its statements affected (rowCount sum, all members). */
  rows: number;
  /** This is the group's first member: transaction-wide figures are counted with it, once. */
  first: boolean;
}

/** The result of a committed batch. */
export interface FlushResult {
  /** Consistency token: end of a WAL message emitted right after COMMIT. */
  lsn: string;
  /** The timeline `lsn` is on. */
  timeline: number;
  /** Rows the committed requests left, in commit order, for the cache's write-through. */
  written: WriteThroughRow[];
  at: string;
  acks: AddressedOutcome[];
  stats: FlushStats;
}

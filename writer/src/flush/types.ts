import type { WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import type { WriteJob, WriteOutcome, WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { Refusal } from '@sluice/shared/sql/dead-letters.ts';

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
  /** Rows the statements affected (rowCount sum). */
  rows: number;
  /** Requests skipped as repeats of an earlier Idempotency-Key. */
  duplicates: number;
  dead: { table: string; sqlstate: string }[];
  /** The batch needed the savepoint bisection. */
  bisected: boolean;
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

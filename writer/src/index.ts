/** The writer as a library: start one in-process (tests, `pnpm dev`) or reuse its parts. */
export { startWriter, FATAL_ATTEMPTS, DrainTimeoutError, type Writer, type WriterDeps } from './writer.ts';
export { flushBatch, CommitRolledBackError, type FlushContext } from './flush/flush.ts';
export { planStatements, keyOf, type StatementGroup, type PlannedRow } from './flush/plan.ts';
export { StatementCache, statementText } from './flush/sql.ts';
export { classify, classifySqlstate, type FailureKind } from './flush/classify.ts';
export type { AfterCommitHook, InTransactionHook, AppliedBatch, CommittedBatch } from './flush/hooks.ts';
export type { BatchJob, WorkItem, FlushResult, FlushStats, RequestResult, Rejection, AddressedOutcome } from './flush/types.ts';
export { Batcher, backoffMs, type BatcherOptions } from './batcher/index.ts';
export { AckPublisher } from './acks/index.ts';
export { WriterMetrics } from './metrics/index.ts';
export {
  PartitionConsumer,
  AllPartitions,
  LeasedPartitions,
  LeaseStore,
  MAX_STALLED_COUNT,
  toBatchJob,
  UnsupportedJobError,
  type PartitionOwnership,
  type OwnershipHandlers,
  type PartitionGrant,
} from './partitions/index.ts';
export { CRASH_LOOP_SQLSTATE, MAX_SOLO_FLUSHES } from './deadletters/quarantine.ts';

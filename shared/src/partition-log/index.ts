/**
 * The partition log: the one adapter that owns every BullMQ detail Sluice
 * depends on (queue naming, appending, counting, ordered fetch, leaving and
 * moving entries back, orphan hand-back, stall accounting, a counter in an
 * entry, close). Nothing outside this folder imports BullMQ; the contract
 * tests (test/partition-log/) pin each assumption to the BullMQ version in
 * the lockfile.
 */
export { queueName, partitionKeyPrefix } from './names.ts';
export { PartitionLog, PartitionLogs, type LogCounts, type FoundJob, type LogState, type LogJob } from './partition-log.ts';
export { LogConsumer, LeftInLog, type LogEntry, type LogConsumerOptions } from './consumer.ts';
export { handBackOrphans, type RecoverOptions } from './orphans.ts';
export { legacyBacklog } from './legacy.ts';

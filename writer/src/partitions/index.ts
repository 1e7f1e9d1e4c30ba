export { PartitionConsumer, MAX_STALLED_COUNT, type ConsumerDeps } from './partition-consumer.ts';
export { AllPartitions, type PartitionOwnership, type OwnershipHandlers } from './ownership.ts';
export { toBatchJob, UnsupportedJobError } from './job.ts';

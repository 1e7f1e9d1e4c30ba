export { PartitionConsumer, MAX_STALLED_COUNT, type ConsumerDeps, type ConsumerSettings } from './partition-consumer.ts';
export { AllPartitions, type PartitionOwnership, type OwnershipHandlers, type PartitionGrant } from './ownership.ts';
export { LeasedPartitions, newWriterId, type LeasedPartitionsDeps, type LeaseSettings } from './leased-partitions.ts';
export { LeaseStore } from './lease-store.ts';
export { planShare, targetOf, type ShareView, type SharePlan } from './fair-share.ts';
export { toBatchJob, UnsupportedJobError } from './job.ts';

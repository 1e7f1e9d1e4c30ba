import type { PartitionRef } from '../topology/partitions.ts';

/**
 * Redis names of a partition's log. BullMQ keys a queue's everything under
 * `<prefix>:<queue name>:…`; the braces make the partition name a Redis
 * Cluster hash tag, so all keys of one partition (its BullMQ keys, its lease,
 * its fencing-token counter) live in one slot, and different partitions
 * spread over the cluster.
 */

/** BullMQ queue name of a partition: `{<partition name>}`. */
export function queueName(ref: Pick<PartitionRef, 'name'>): string {
  return `{${ref.name}}`;
}

/** Key prefix of everything Sluice keeps beside a partition's queue (its lease, its token counter). */
export function partitionKeyPrefix(prefix: string, ref: Pick<PartitionRef, 'name'>): string {
  return `${prefix}:${queueName(ref)}:sluice`;
}

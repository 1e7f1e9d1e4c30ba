/**
 * Partitions as tests see them: a fresh test database has no shard map until
 * the first gateway or writer starts, which stores epoch 1 of shard `main`
 * with SLUICE_PARTITIONS partitions. Tests that enqueue before (or without) a
 * gateway address those partitions by name, through the partition log.
 */
import { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { partitionIndexOf, partitionRef, type PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { TestEnv } from './index.ts';

/** Partition `index` of `epoch` (default 1) of `shard` (default `main`). */
export function part(index: number, epoch = 1, shard = 'main'): PartitionRef {
  return partitionRef(shard, epoch, index);
}

/** The partition of epoch `epoch` (of `count` partitions) a row of `table` with `key` goes to. */
export function partOf(table: string, key: readonly string[], count: number, epoch = 1): PartitionRef {
  return part(partitionIndexOf(table, key, count), epoch);
}

/** The env's partition logs (on its plain Redis connection, which the env closes). */
export function logsOf(env: Pick<TestEnv, 'redis' | 'prefix'>): PartitionLogs {
  return new PartitionLogs(env.redis, env.prefix);
}

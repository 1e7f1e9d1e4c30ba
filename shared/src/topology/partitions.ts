/**
 * Partitions are named, not numbered: a partition belongs to a shard (the
 * Postgres primary its batches commit to) and to a layout epoch of that shard
 * (the partition count changes only by opening a new epoch, see shard-map.ts).
 *
 *   name = <shard>.<epoch>.<index>      e.g. main.1.3
 *
 * The name is the unit of everything per partition: its BullMQ queue (hash
 * tag `{main.1.3}`: one Redis Cluster slot), its lease and fencing token, the
 * prefix of its job ids and write ids. Names never contain `:` (BullMQ job
 * ids may not) and sort by shard, then epoch.
 */

/** One partition of one epoch of one shard. */
export interface PartitionRef {
  readonly shard: string;
  readonly epoch: number;
  readonly index: number;
  /** `<shard>.<epoch>.<index>` */
  readonly name: string;
}

/** Shard names: short, lower-case, usable inside Redis keys, job ids and SQL text literals. */
export const SHARD_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

const NAME = /^([a-z][a-z0-9_-]{0,31})\.(\d{1,9})\.(\d{1,4})$/;

/** The ref of partition `index` of `epoch` of `shard`. */
export function partitionRef(shard: string, epoch: number, index: number): PartitionRef {
  return { shard, epoch, index, name: `${shard}.${epoch}.${index}` };
}

/** Parse a partition name; null when it is not one. */
export function parsePartitionName(name: string): PartitionRef | null {
  const m = NAME.exec(name);
  if (m === null) return null;
  return partitionRef(m[1]!, Number(m[2]), Number(m[3]));
}

/**
 * FNV-1a (32-bit) over a string: stable across processes and versions,
 * cheap, well spread for short keys. Changing it would move keys between
 * partitions, so it is part of the queue contract.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Index of the partition (of `count`) that a row identified by (table, primary-key values) belongs to. */
export function partitionIndexOf(table: string, key: readonly string[], count: number): number {
  return fnv1a32(table + '\u0000' + key.join('\u0001')) % count;
}

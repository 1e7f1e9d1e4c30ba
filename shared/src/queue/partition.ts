/**
 * Key → partition. FNV-1a (32-bit) over table and key text: stable across
 * processes and versions, cheap, and well spread for short keys. Changing it
 * reorders in-flight writes, so it is part of the queue contract.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Partition of a row identified by (table, primary-key values). */
export function partitionOf(table: string, key: readonly string[], partitions: number): number {
  return fnv1a32(table + '\u0000' + key.join('\u0001')) % partitions;
}

/** BullMQ queue name of a partition. The braces are a Redis Cluster hash tag: one slot per queue. */
export function queueName(partition: number): string {
  return `{p${partition}}`;
}

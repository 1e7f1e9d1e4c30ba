import { isCluster, type RedisClient } from './connections.ts';

// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots (cluster spec, "Keys distribution model").
const CRC16 = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  CRC16[i] = c;
}

/** The Redis Cluster hash slot of `key`, 0..16383: of its first non-empty `{tag}` when it has one (the spec's rule). */
export function slotOf(key: string): number {
  let b = Buffer.from(key, 'utf8');
  const open = b.indexOf(0x7b); // {
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1); // }
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of b) crc = ((crc << 8) & 0xffff) ^ CRC16[((crc >> 8) ^ byte) & 0xff]!;
  return crc & 16383;
}

/**
 * Run multi-key work so that no call mixes slots: on one Redis, `run(items)`
 * once; on a Redis Cluster, once per slot (in parallel: ioredis sends each to
 * its master), the results put back in `items`' order. `run` must return one
 * result per item, in its order. This is how the cache's MGET, lease and fill
 * scripts and write-through stay clear of CROSSSLOT.
 */
export async function perSlot<T, R>(redis: RedisClient, items: readonly T[], keyOf: (item: T) => string, run: (group: T[]) => Promise<R[]>): Promise<R[]> {
  if (!isCluster(redis)) return run([...items]);
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const slot = slotOf(keyOf(item));
    let g = groups.get(slot);
    if (!g) groups.set(slot, (g = []));
    g.push(i);
  });
  const out = new Array<R>(items.length);
  await Promise.all(
    [...groups.values()].map(async (idx) => {
      const res = await run(idx.map((i) => items[i]!));
      idx.forEach((i, j) => (out[i] = res[j]!));
    }),
  );
  return out;
}

/**
 * Split `items` by the master that serves their slot, as this client's slot
 * map says now (ioredis `Cluster.slots`, refreshed on MOVED and on failover):
 * one group on one Redis. A slot the map does not know yet makes a group of
 * its own. Groups keep `items`' order. The map may be stale by the time a
 * call arrives: a call that spans several slots of one node must cope with a
 * key that is not on that node any more (the cache's write-through falls back
 * to one call per slot).
 */
export function byNode<T>(redis: RedisClient, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!isCluster(redis)) return [[...items]];
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const slot = slotOf(keyOf(item));
    const node = redis.slots[slot]?.[0] ?? `slot ${slot}`;
    let g = groups.get(node);
    if (!g) groups.set(node, (g = []));
    g.push(item);
  }
  return [...groups.values()];
}

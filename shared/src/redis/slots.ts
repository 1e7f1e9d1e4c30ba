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

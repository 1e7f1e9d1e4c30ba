import { isCluster, type RedisClient } from '../../redis/connections.ts';

/**
 * Drop every cached row of a shard's cache namespace (`<prefix>:c:{…}`;
 * fill leases and the popularity set are left alone). Used after the
 * shard's primary changed timeline: entries written through from commits a
 * failover lost carry LSN stamps of the dead timeline, possibly above every
 * position of the new primary, and the compare-and-set on LSN would keep
 * newer fills and write-throughs out until they expire. SCAN, so Redis is
 * never blocked; UNLINK, so large values are freed in the background. On a
 * Redis Cluster every master is scanned and each key unlinked on its own
 * (keys of one node may lie in different slots). Returns the entries dropped.
 */
export async function forgetCachedRows(redis: RedisClient, prefix: string): Promise<number> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  let dropped = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(prefix)}:c:{*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (!isCluster(redis)) dropped += await node.unlink(...keys);
      else {
        const pipe = node.pipeline();
        for (const k of keys) pipe.unlink(k);
        for (const [err, n] of (await pipe.exec()) ?? []) if (err === null) dropped += Number(n);
      }
    } while (cursor !== '0');
  }
  return dropped;
}

/** A literal for SCAN's glob pattern (prefixes may hold `[`, `*`, `?`, `\`). */
function escapeGlob(s: string): string {
  return s.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

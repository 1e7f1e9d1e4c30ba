import type { Redis } from '../../redis/connections.ts';

/**
 * Drop every cached row of a shard's cache namespace (`<prefix>:c:{…}`;
 * fill leases and the popularity set are left alone). Used after the
 * shard's primary changed timeline: entries written through from commits a
 * failover lost carry LSN stamps of the dead timeline, possibly above every
 * position of the new primary, and the compare-and-set on LSN would keep
 * newer fills and write-throughs out until they expire. SCAN, so Redis is
 * never blocked; UNLINK, so large values are freed in the background.
 * Returns the entries dropped.
 */
export async function forgetCachedRows(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let dropped = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}:c:{*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) dropped += await redis.unlink(...keys);
  } while (cursor !== '0');
  return dropped;
}

/** A literal for SCAN's glob pattern (prefixes may hold `[`, `*`, `?`, `\`). */
function escapeGlob(s: string): string {
  return s.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

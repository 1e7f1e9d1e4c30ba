import { isCluster, type RedisClient as Redis } from '../redis/connections.ts';

/**
 * Jobs still queued under the partition naming of Sluice before named
 * partitions (`{p3}` instead of `{main.1.3}`). Writers of this version never
 * consume those queues, so a deployment must not start over them: the first
 * start (no shard map stored yet) refuses while any of them holds a job.
 */
const STATES: Readonly<Record<string, 'list' | 'zset'>> = { wait: 'list', active: 'list', paused: 'list', prioritized: 'zset', delayed: 'zset' };

/** Jobs waiting, active, paused, prioritized or delayed in old-style partition queues under `prefix`. */
export async function legacyBacklog(redis: Redis, prefix: string): Promise<number> {
  let jobs = 0;
  // SCAN walks one node: on a Redis Cluster, each master.
  for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:{p[0-9]*}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const kind = STATES[key.slice(key.lastIndexOf(':') + 1)];
        if (kind !== undefined) jobs += kind === 'list' ? await node.llen(key) : await node.zcard(key);
      }
    } while (cursor !== '0');
  }
  return jobs;
}

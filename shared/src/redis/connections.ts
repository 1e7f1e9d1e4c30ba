import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { isClusterUrl, parseClusterUrl } from './url.ts';

export { Redis, Cluster } from 'ioredis';

/**
 * A connection Sluice uses: one Redis server, or a Redis Cluster client
 * (REDIS_URL `redis+cluster://…`). Both speak the same commands; code that
 * needs a node (WAIT, INFO of every master, sharded pub/sub) asks `isCluster`.
 */
export type RedisClient = Redis | Cluster;

/** Is `r` a Redis Cluster client? */
export function isCluster(r: RedisClient): r is Cluster {
  return (r as Cluster).isCluster === true;
}

/**
 * Redis connections by role, with the settings BullMQ and our guarantees need:
 * - `producer`: fails fast. `enableOfflineQueue: false` rejects commands while
 *   disconnected (→ 503) instead of buffering them; `commandTimeout` bounds a
 *   frozen server; one retry per request at most.
 * - `worker`: BullMQ workers block on Redis; they require
 *   `maxRetriesPerRequest: null` and must not have a command timeout.
 * - `cache`: reads, auto-pipelined (many GETs per round trip).
 * - `subscriber`: pub/sub, reconnects forever.
 */
export type RedisRole = 'producer' | 'worker' | 'cache' | 'subscriber';

export interface RedisConnOptions {
  url: string;
  role: RedisRole;
  timeoutMs: number;
  name: string;
}

export function redisOptions(o: Omit<RedisConnOptions, 'url'>): RedisOptions {
  const common: RedisOptions = {
    connectionName: o.name,
    connectTimeout: o.timeoutMs,
    // Reconnect with capped backoff; the producer answers 503 meanwhile.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
  };
  switch (o.role) {
    case 'producer':
      return { ...common, enableOfflineQueue: false, commandTimeout: o.timeoutMs, maxRetriesPerRequest: 1 };
    case 'worker':
      return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
    case 'cache':
      return { ...common, enableAutoPipelining: true, enableOfflineQueue: false, commandTimeout: o.timeoutMs, maxRetriesPerRequest: 1 };
    case 'subscriber':
      return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true };
  }
}

/**
 * The same roles on a Redis Cluster. Per-node connections are ioredis's own
 * (it never reconnects a lost node by itself: it refreshes the slot map and
 * follows MOVED, retrying a command `retryDelayOnFailover` later, at most
 * `maxRedirections` times); the role's fail-fast settings move to the cluster
 * level. The subscriber uses sharded pub/sub (`shardedSubscribers`: one
 * connection per master, re-subscribed when slots move).
 */
export function clusterOptions(o: Omit<RedisConnOptions, 'url'>, auth: { username?: string | undefined; password?: string | undefined } = {}): ClusterOptions {
  const { retryStrategy: _node, lazyConnect: _lazy, enableOfflineQueue, enableAutoPipelining, ...perNode } = redisOptions(o);
  return {
    redisOptions: { ...perNode, ...(auth.username ? { username: auth.username } : {}), ...(auth.password ? { password: auth.password } : {}) },
    enableOfflineQueue: enableOfflineQueue ?? true,
    enableAutoPipelining: enableAutoPipelining ?? false,
    clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    slotsRefreshTimeout: Math.max(1000, o.timeoutMs),
    // A failover takes cluster-node-timeout plus an election: retry a command
    // every 200 ms, 16 times (~3 s) before the caller sees "Too many Cluster redirections".
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    scaleReads: 'master',
    shardedSubscribers: o.role === 'subscriber',
  };
}

/** Open a connection. Whoever creates a connection closes it (BullMQ's rule). */
export function createRedis(o: RedisConnOptions): RedisClient {
  if (isClusterUrl(o.url)) {
    const addr = parseClusterUrl(o.url);
    return new Cluster([...addr.seeds], clusterOptions(o, addr));
  }
  return new Redis(o.url, redisOptions(o));
}

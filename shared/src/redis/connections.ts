import { Redis, type RedisOptions } from 'ioredis';

export { Redis } from 'ioredis';

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

/** Open a connection. Whoever creates a connection closes it (BullMQ's rule). */
export function createRedis(o: RedisConnOptions): Redis {
  return new Redis(o.url, redisOptions(o));
}

import type { Logger } from '../log/index.ts';
import { createRedis, type Redis, type RedisConnOptions } from './connections.ts';

/**
 * Open a connection for a service's `main.ts`: errors logged at most once a
 * second (a down Redis emits one per reconnect attempt), resolved once ready,
 * rejected after `readyWithinMs`. `close()` QUITs a live connection and just
 * drops one that is down (QUIT would wait in the offline queue for a reconnect).
 */
export async function connectRedis(o: RedisConnOptions, log: Logger, readyWithinMs: number): Promise<{ redis: Redis; close: () => Promise<void> }> {
  const redis = createRedis(o);
  const close = async () => {
    if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  };
  let lastLog = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - lastLog < 1000) return;
    lastLog = Date.now();
    log.warn({ redis: o.name, err: { message: err.message } }, 'redis connection error');
  });
  if (redis.status !== 'ready') {
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Redis (${o.name}) did not answer within ${readyWithinMs} ms`)), readyWithinMs);
        redis.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (err) {
      await close();
      throw err;
    }
  }
  return { redis, close };
}

import { oncePer, type Logger } from '../log/index.ts';
import { createRedis, type RedisClient as Redis, type RedisConnOptions } from './connections.ts';

/**
 * Open a connection for a service's `main.ts`: errors logged at most once a
 * second (a down Redis emits one per reconnect attempt), resolved once ready,
 * rejected after `readyWithinMs`. `close()` QUITs a live connection and just
 * drops one that is down (QUIT would wait in the offline queue for a reconnect).
 */
export async function connectRedis(o: RedisConnOptions, log: Logger, readyWithinMs: number): Promise<{ redis: Redis; close: () => Promise<void> }> {
  const redis = createRedis(o);
  const close = () => closeRedis(redis);
  const due = oncePer(1000);
  redis.on('error', (err: Error) => {
    if (!due()) return;
    log.warn({ redis: o.name, err: { message: err.message } }, 'redis connection error');
  });
  if (!(await whenReady(redis, readyWithinMs))) {
    await close();
    throw new Error(`Redis (${o.name}) did not answer within ${readyWithinMs} ms`);
  }
  return { redis, close };
}

/** Resolves true once `redis` is ready (at once if it is), false after `ms` without. */
export function whenReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, ms);
    redis.once('ready', onReady);
  });
}

/** QUIT a live connection; just drop one that is down (QUIT would wait in the offline queue for a reconnect). */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().then(() => {}, () => redis.disconnect());
  else redis.disconnect();
}

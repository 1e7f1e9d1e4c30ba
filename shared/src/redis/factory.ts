import type { Logger } from '../log/index.ts';
import { closeRedis, whenReady } from './connect.ts';
import { createRedis, type RedisClient as Redis, type RedisRole } from './connections.ts';
import { oncePer } from '../log/index.ts';

/** Where each role's connections go. */
export interface RedisFactoryOptions {
  /** REDIS_URL: the queue, leases, acks, the fleet registry. */
  queueUrl: string;
  /** SLUICE_CACHE_REDIS_URL (default: the queue's): the read cache and popularity. */
  cacheUrl?: string | undefined;
  /** SLUICE_REDIS_TIMEOUT_MS */
  timeoutMs: number;
  log: Logger;
}

/**
 * The one place Sluice opens Redis connections: every process's main builds
 * one factory, components ask it for a connection of a role (connections.ts
 * says what each role's settings are), and `close()` closes everything it
 * opened, newest first. Whoever creates a connection closes it — here, the
 * factory; a component that is done with one early gives it back with
 * `release`. A Redis Cluster client plugs in here, once, for every role.
 */
export class RedisFactory {
  private readonly open = new Set<Redis>();
  private closing: Promise<void> | undefined;

  constructor(private readonly o: RedisFactoryOptions) {}

  /** A new connection of `role`, named `name` (CLIENT LIST shows it); its errors are logged at most once a second. */
  connect(role: RedisRole, name: string): Redis {
    if (this.closing) throw new Error(`redis factory closed: cannot open ${name}`);
    const url = role === 'cache' ? (this.o.cacheUrl ?? this.o.queueUrl) : this.o.queueUrl;
    const redis = createRedis({ url, role, timeoutMs: this.o.timeoutMs, name });
    const due = oncePer(1000); // a down Redis emits an error per reconnect attempt
    redis.on('error', (err: Error) => {
      if (due()) this.o.log.warn({ redis: name, err: { message: err.message } }, 'redis connection error');
    });
    this.open.add(redis);
    return redis;
  }

  /** A connection of `role` that is ready, or an error after `withinMs` (for a main.ts that must not start without Redis). */
  async connectReady(role: RedisRole, name: string, withinMs = this.o.timeoutMs * 5): Promise<Redis> {
    const redis = this.connect(role, name);
    if (!(await whenReady(redis, withinMs))) {
      await this.release(redis);
      throw new Error(`Redis (${name}) did not answer within ${withinMs} ms`);
    }
    return redis;
  }

  /** Close one connection this factory opened. */
  async release(redis: Redis): Promise<void> {
    if (!this.open.delete(redis)) return;
    await closeRedis(redis);
  }

  /** Close every connection still open, newest first. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.open].reverse();
      this.open.clear();
      for (const r of all) await closeRedis(r).catch(() => {});
    })();
    return this.closing;
  }
}

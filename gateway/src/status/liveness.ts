import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';

/** Why a load balancer should send this gateway no new requests. */
export type NotLive = { reason: 'draining' } | { reason: 'redis'; detail: string };

/**
 * The load balancer's view (`GET /livez`): can this gateway accept writes
 * now? Only local state is judged: its producer Redis connection is ready
 * and it is not draining. Never Postgres and never the backlog: the queue
 * exists to ride out a slow primary, and a check that failed with it would
 * take every gateway out of rotation at once (clients would get the LB's own
 * 503 instead of Sluice's 202). `/readyz` stays the deep check for humans.
 */
export class Liveness {
  private drainingSince: number | undefined;

  constructor(private readonly producer: Redis) {}

  /** Start draining: /livez and /readyz fail from now on; requests are still served. Idempotent. */
  drain(): void {
    this.drainingSince ??= Date.now();
  }

  /** True once `drain()` was called. */
  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  /** Undefined when this gateway can take writes, otherwise why not. No I/O: a probe storm costs nothing. */
  check(): NotLive | undefined {
    if (this.draining) return { reason: 'draining' };
    // ioredis reports 'ready' only after the connection answered; any other
    // state means a write would get 503 at once (enableOfflineQueue: false).
    if (this.producer.status !== 'ready') return { reason: 'redis', detail: `Redis connection ${this.producer.status}` };
    return undefined;
  }
}

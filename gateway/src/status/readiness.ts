import pTimeout from 'p-timeout';
import type { Config } from '@sluice/shared/config/schema.ts';
import type { Queryable } from '@sluice/shared/db/pool.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { memoizeFor } from '@sluice/shared/lifecycle/memo.ts';
import type { BacklogMonitor } from '../enqueue/backlog.ts';

/** One readiness verdict, with what was checked. */
export interface Readiness {
  ready: boolean;
  checks: { redis: string; postgres: string; backlog: string };
  /** Figures shown but not judged (e.g. `deadLetters`, the admin routes' pending count). */
  details?: Record<string, unknown>;
  checkedAt: string;
}

/** Config keys that may hold credentials (URLs with passwords, API keys): never shown. */
const SECRET_KNOBS = new Set(['DATABASE_URL', 'SLUICE_SHARDS', 'REDIS_URL', 'SLUICE_REPLICA_URLS', 'SLUICE_REDIS_CLUSTER_NODES', 'SLUICE_API_KEYS', 'SLUICE_CACHE_REDIS_URL']);

/** The knobs `/readyz` shows: everything but secrets, plus whether auth is on. */
export function publicKnobs(config: Readonly<Config>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) if (!SECRET_KNOBS.has(k)) out[k] = v;
  out.SLUICE_AUTH = config.SLUICE_API_KEYS === undefined ? 'off' : `on (${config.SLUICE_API_KEYS.length} keys)`;
  return out;
}

/**
 * Is this node able to take writes? Redis answers, Postgres answers, and the
 * backlog is under SLUICE_MAX_QUEUE_DEPTH. Cached for `cacheMs` and shared by
 * concurrent probes, so a probe storm costs one check.
 */
export class ReadinessCheck {
  /** The cached verdict, or a fresh one. */
  readonly get: () => Promise<Readiness>;

  constructor(
    private readonly d: {
      producer: Redis;
      db: Queryable;
      backlog: BacklogMonitor;
      maxQueueDepth: number;
      timeoutMs: number;
      cacheMs: number;
      /** Extra figures for the verdict; must bound its own time and not throw. */
      details?: () => Promise<Record<string, unknown>>;
    },
  ) {
    this.get = memoizeFor(() => this.check(), d.cacheMs);
  }

  private async check(): Promise<Readiness> {
    const [redis, postgres, details] = await Promise.all([
      this.probe(async () => {
        if (this.d.producer.status !== 'ready') throw new Error(`connection ${this.d.producer.status}`);
        await this.d.producer.ping();
      }),
      this.probe(() => this.d.db.query('SELECT 1')),
      this.d.details?.().catch(() => undefined),
    ]);
    const b = this.d.backlog;
    const backlog = b.depth > this.d.maxQueueDepth ? `${b.depth} jobs > SLUICE_MAX_QUEUE_DEPTH ${this.d.maxQueueDepth}` : 'ok';
    return { ready: redis === 'ok' && postgres === 'ok' && backlog === 'ok', checks: { redis, postgres, backlog }, ...(details ? { details } : {}), checkedAt: new Date().toISOString() };
  }

  /** 'ok', or why not (bounded by `timeoutMs`). */
  private async probe(fn: () => Promise<unknown>): Promise<string> {
    const ms = this.d.timeoutMs;
    try {
      await pTimeout(fn(), { milliseconds: ms, message: `no answer within ${ms} ms` });
      return 'ok';
    } catch (err) {
      return (err as Error).message || 'failed';
    }
  }
}

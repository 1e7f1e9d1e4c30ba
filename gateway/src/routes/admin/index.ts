import type { Hono, MiddlewareHandler } from 'hono';
import pTimeout from 'p-timeout';
import { Gauge, type Registry } from 'prom-client';
import { memoizeFor } from '@sluice/shared/lifecycle/memo.ts';
import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import { ForbiddenError } from '@sluice/shared/errors/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { GatewayEnv } from '../../context.ts';
import type { WriteService } from '../../enqueue/service.ts';
import { DeadLetterStore } from '@sluice/shared/sql/dead-letter-admin.ts';
import { deadLetterRoutes } from './dead-letters.ts';
import { flagAdminRoutes, type FlagAdminDeps } from './flags.ts';
import { partitionRoutes, type PartitionRouteDeps } from './partitions.ts';
import { shardRoutes, type ShardRouteDeps } from './shards.ts';
import { statusRoutes, type StatusRouteDeps } from './status.ts';

/** What the admin routes need. */
export interface AdminDeps {
  /** Partitions: the topology, the logs, the lease settings (dead letters live on the first shard). */
  partitions: PartitionRouteDeps;
  service: WriteService;
  validators: ReadonlyMap<string, TableValidator>;
  /** Shards and moves. */
  shards: ShardRouteDeps;
  /** Feature flags: the first shard's pool and this gateway's follower. */
  flags: FlagAdminDeps;
  /** The JSON body middleware (a move's body, a flag's). */
  body: MiddlewareHandler<GatewayEnv>;
  /** The gateway's metrics registry: `sluice_dead_letters` is added to it. */
  registry: Registry;
  log: Logger;
  /** The rest of `GET /v1/admin/status`. */
  status: Omit<StatusRouteDeps, 'partitions' | 'deadLetters'>;
}

/** What the rest of the gateway gets back: the dead-letter count for `/readyz`. */
export interface Admin {
  /** Dead letters neither replayed nor discarded (cached for a second; null if Postgres did not answer). */
  deadLetters(): Promise<number | null>;
}

const NOT_ADMIN = new ForbiddenError('this API key lacks the admin scope');

/** 403 unless the caller holds `admin` (401 came earlier, from the auth middleware). */
function requireAdmin(): MiddlewareHandler<GatewayEnv> {
  return async function requireAdmin(c, next) {
    if (!c.get('principal').admin) throw NOT_ADMIN;
    return next();
  };
}

const COUNT_CACHE_MS = 1000;
const COUNT_TIMEOUT_MS = 1000;

/**
 * The pending dead-letter count, shared by /metrics and /readyz: at most one
 * query per second however often they are scraped, bounded in time; null
 * when Postgres did not answer.
 */
function cachedCount(store: DeadLetterStore, log: Logger): () => Promise<number | null> {
  return memoizeFor(
    () =>
      pTimeout(store.pendingCount(), { milliseconds: COUNT_TIMEOUT_MS }).catch((err: unknown) => {
        log.debug({ err }, 'dead-letter count failed');
        return null;
      }),
    COUNT_CACHE_MS,
  );
}

/**
 * Mount `/v1/admin/*` (scope `admin`): dead letters (list, inspect, replay,
 * discard), partitions (owners, tokens, backlog, pause/resume) and shards
 * (health, the map, moves of key ranges), feature flags; add the
 * `sluice_dead_letters` gauge.
 */
export function adminRoutes(app: Hono<GatewayEnv>, d: AdminDeps): Admin {
  const store = new DeadLetterStore(d.partitions.topology.metaDb);
  const deadLetters = cachedCount(store, d.log);
  new Gauge({
    name: 'sluice_dead_letters',
    help: 'Dead letters neither replayed nor discarded (alert on > 0); see GET /v1/admin/dead-letters',
    registers: [d.registry],
    async collect() {
      const n = await deadLetters();
      if (n !== null) this.set(n);
    },
  });
  app.use('/v1/admin/*', requireAdmin());
  deadLetterRoutes(app, { store, service: d.service, validators: d.validators });
  partitionRoutes(app, d.partitions);
  shardRoutes(app, d.shards, d.body);
  flagAdminRoutes(app, d.flags, d.body);
  statusRoutes(app, { ...d.status, partitions: d.partitions, deadLetters });
  return { deadLetters };
}

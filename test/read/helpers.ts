/**
 * Helpers of the read-path suites: a read service and a tiny Hono app around
 * the table resource's read routes (the gateway's real auth and error middleware), a
 * committed write done the way the writer does it (commit, token, then
 * write-through), and a wrapper that counts or holds database reads.
 */
import { Hono } from 'hono';
import { createLogger } from '@sluice/shared/log/index.ts';
import { hmacSecretOf } from '@sluice/shared/config/index.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { type Catalog } from '@sluice/shared/catalog/types.ts';
import { type Config } from '@sluice/shared/config/schema.ts';
import { type Queryable, type QueryResultRow } from '@sluice/shared/db/pool.ts';
import { writeThrough } from '@sluice/shared/read/cache/write-through.ts';
import { type DbSource, type QueryWrapper } from '@sluice/shared/read/loader.ts';
import type { GatewayEnv } from '@sluice/gateway/context.ts';
import { apiKeyAuth } from '@sluice/gateway/middleware/auth/index.ts';
import { problemErrors, problemNotFound } from '@sluice/gateway/middleware/errors/index.ts';
import { createReadService, type ReadService } from '@sluice/shared/read/service.ts';
import { readSettingsOf } from '@sluice/shared/read/settings.ts';
import { ShardedReads } from '@sluice/shared/read/sharded.ts';
import { closeRedis } from '@sluice/shared/redis/connect.ts';
import { createRedis } from '@sluice/shared/redis/connections.ts';
import { readRoutes } from '@sluice/gateway/routes/tables/index.ts';
import { jsonBody } from '@sluice/gateway/middleware/body/index.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';

export const log = createLogger('test-read', 'silent');

/** Counts database reads by source; `hold()` makes the next reads wait (after their query ran) until released. */
export class ReadCounter {
  readonly counts: Record<DbSource, number> = { replica: 0, primary: 0 };
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** Reads that finished their query and are waiting at the gate. */
  held = 0;

  get total(): number {
    return this.counts.replica + this.counts.primary;
  }

  readonly wrap: QueryWrapper = async (source, _table, run) => {
    this.counts[source]++;
    const value = await run();
    const gate = this.gate;
    if (gate !== undefined) {
      this.held++;
      await gate;
      this.held--;
    }
    return value;
  };

  /** Hold reads (after their query) until `release()`. */
  hold(): void {
    this.gate = new Promise<void>((r) => {
      this.open = r;
    });
  }

  release(): void {
    this.gate = undefined;
    this.open?.();
  }
}

/** A started read service over `primary` with `config`. */
/** A read service as tests use it: with the config it was built from. */
export type TestReadService = ReadService & { config: Readonly<Config> };

export async function startReadService(config: Readonly<Config>, primary: Queryable, catalog: Catalog, counter?: ReadCounter, cache?: Redis): Promise<TestReadService> {
  // The service never closes its cache connection; one made here is closed when the service stops.
  const own = cache === undefined ? createRedis({ url: config.SLUICE_CACHE_REDIS_URL ?? config.REDIS_URL, role: 'cache', timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, name: 'test-read' }) : undefined;
  own?.on('error', () => {});
  const service = createReadService({ settings: readSettingsOf(config), log, catalog, primary, cache: cache ?? own!, ...(counter ? { wrapQuery: counter.wrap } : {}) });
  const stop = service.stop.bind(service);
  let stopping: Promise<void> | undefined;
  service.stop = () => (stopping ??= stop().finally(() => own && closeRedis(own)));
  await service.start();
  return Object.assign(service, { config });
}

/** The catalog of `tables` on `db`. */
export function catalogOf(db: Queryable, tables: string[]): Promise<Catalog> {
  return introspectCatalog(db, tables);
}

/** A Hono app with the gateway's auth and problem+json handling, serving only the read routes. */
export function readApp(service: TestReadService): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use('/v1/*', apiKeyAuth({ keys: service.config.SLUICE_API_KEYS, secret: hmacSecretOf(service.config) }));
  const c = service.config;
  readRoutes(app, { service: ShardedReads.single(service) }, jsonBody({ maxBytes: c.SLUICE_MAX_BODY_BYTES, maxDepth: c.SLUICE_MAX_JSON_DEPTH }));
  app.onError(problemErrors(log));
  app.notFound(problemNotFound());
  return app;
}

/**
 * A committed write as the writer makes it: run `sql` (returning the row as
 * `row_to_json(…)::text AS j` and its key as `k`), read the consistency token
 * after COMMIT, then write the row through to the cache. `cache: null` skips
 * the write-through (a writer that crashed right after COMMIT).
 */
export async function committedWrite(
  db: Queryable,
  sql: string,
  values: unknown[],
  through: { redis: Redis; catalog: Catalog; prefix: string; table: string } | null,
): Promise<{ token: string; row: string | null }> {
  const { rows } = await db.query<QueryResultRow>(sql, values);
  const { rows: lsn } = await db.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l');
  const token = lsn[0]!.l;
  const row = (rows[0]?.j as string | undefined) ?? null;
  if (through !== null) {
    const key = String(rows[0]?.k ?? values[0]);
    await writeThrough(through.redis, through.catalog, through.prefix, [{ table: through.table, key: [key], row }], token);
  }
  return { token, row };
}

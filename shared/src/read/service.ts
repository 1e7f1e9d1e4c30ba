import { Registry } from 'prom-client';
import { AppError, UnavailableError } from '../errors/index.ts';
import { closeRedis } from '../redis/connect.ts';
import { createRedis, type Redis } from '../redis/connections.ts';
import { oncePer, type Logger } from '../log/index.ts';
import { type Catalog, type ColumnInfo } from '../catalog/types.ts';
import { type Config } from '../config/schema.ts';
import { type Queryable } from '../db/pool.ts';
import { CacheStore, cacheTtlsOf } from './cache/store.ts';
import { PopularityCounter } from './cache/popularity.ts';
import { ReplicaSet } from './replicas/set.ts';
import { RowLoader, type QueryWrapper, replicaReadTimeoutMs } from './loader.ts';
import { prepareReadTables, type ReadTable } from './tables.ts';
import { type LsnKey } from './cache/lsn.ts';
import { BatchLoader } from './batch-loader.ts';
import { KeyReader, type RowRead } from './key-reader.ts';
import { ReadMetrics } from './metrics.ts';

/** What the read service needs; it opens (and closes) the replica pools itself. */
export interface ReadServiceDeps {
  config: Readonly<Config>;
  log: Logger;
  /** Introspected allowlisted tables. */
  catalog: Catalog;
  /** The primary (the gateway's pool): fallback reads, the monitor's WAL position, index introspection. */
  primary: Queryable;
  /**
   * A `cache`-role connection (createRedis role 'cache': auto-pipelined, no
   * offline queue). Default: the service opens one on SLUICE_CACHE_REDIS_URL
   * (else REDIS_URL) and closes it in stop(); a given one stays the caller's.
   */
  cache?: Redis;
  /** Registry for the read and replica metrics (the gateway's); default: one of its own. */
  registry?: Registry;
  /** Wraps every database read (tests count or pause reads). */
  wrapQuery?: QueryWrapper;
  /** Name for connections and logs. */
  nodeId?: string;
}

/** Rows read by key in one request, aligned with the keys. */
export interface RowsRead {
  rows: (string | null)[];
  /** The farthest source any row came from: primary > replica > cache. */
  source: RowRead['source'];
}

/** One page of a list. */
export interface ListPage {
  rows: string[];
  /** Key of the last row when there may be more, else null. */
  lastKey: string[] | null;
  source: 'replica' | 'primary';
}

const RANK = { cache: 0, replica: 1, primary: 2 } as const;

/**
 * The read path behind the routes: cache → healthy replica → primary, with
 * stampede protection and read-your-writes (key-reader.ts), replica health
 * (shared/src/cache/replicas) and popularity sampling for the warmer.
 */
export class ReadService {
  readonly registry: Registry;
  readonly replicas: ReplicaSet;
  readonly store: CacheStore;
  readonly metrics: ReadMetrics;
  private readonly cache: Redis;
  private readonly ownsCache: boolean;
  private readonly loader: RowLoader;
  private readonly keys: KeyReader;
  private readonly popularity: PopularityCounter | undefined;
  private readTables: ReadonlyMap<string, ReadTable> = new Map();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly d: ReadServiceDeps) {
    const c = d.config;
    this.registry = d.registry ?? new Registry();
    this.metrics = new ReadMetrics(this.registry);
    this.ownsCache = d.cache === undefined;
    this.cache = d.cache ?? this.openCache();
    this.store = new CacheStore(this.cache, c.SLUICE_QUEUE_PREFIX, cacheTtlsOf(c), c.SLUICE_CACHE_LEASE_MS);
    this.replicas = new ReplicaSet({
      urls: c.SLUICE_REPLICA_URLS, primary: d.primary, checkMs: c.SLUICE_REPLICA_CHECK_MS, maxLagMs: c.SLUICE_MAX_REPLICA_LAG_MS,
      poolMax: c.SLUICE_PG_POOL_MAX, connectTimeoutMs: c.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: c.SLUICE_STATEMENT_TIMEOUT_MS,
      applicationName: `sluice-read-${d.nodeId ?? 'node'}`, log: d.log, registry: this.registry,
    });
    const wrap = d.wrapQuery;
    const count: QueryWrapper = (source, table, run) => {
      this.metrics.dbQueries.inc({ source });
      return wrap ? wrap(source, table, run) : run();
    };
    this.loader = new RowLoader({ primary: d.primary, replicas: this.replicas, rywWaitMs: c.SLUICE_RYW_WAIT_MS, replicaTimeoutMs: replicaReadTimeoutMs(c), log: d.log, wrap: count });
    this.popularity = c.SLUICE_POPULARITY_SAMPLE > 0 ? new PopularityCounter(this.cache, c.SLUICE_QUEUE_PREFIX, { sample: c.SLUICE_POPULARITY_SAMPLE, flushMs: c.SLUICE_POPULARITY_FLUSH_MS }) : undefined;
    this.keys = new KeyReader({ store: this.store, loader: new BatchLoader(this.loader), metrics: this.metrics, log: d.log, stampedeWaitMs: c.SLUICE_STAMPEDE_WAIT_MS, popularity: this.popularity });
  }

  /** The config the service runs with. */
  get config(): Readonly<Config> {
    return this.d.config;
  }

  /** Readable tables by API name (filled by start()). */
  get tables(): ReadonlyMap<string, ReadTable> {
    return this.readTables;
  }

  /** Introspect indexes, run the first replica check, start the monitor. Idempotent. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      this.readTables = await prepareReadTables(this.d.catalog, this.d.primary);
      await Promise.all([this.replicas.start(), this.cacheReady()]);
      this.popularity?.start();
      const r = this.replicas.replicas;
      this.d.log.info({ replicas: r.map((x) => ({ name: x.name, state: x.state })) }, r.length ? 'read path ready' : 'read path ready (no replicas: reads go to the primary)');
    })();
    return this.starting;
  }

  /** Stop the monitor, close the replica pools and the cache connection if ours. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {});
      await this.popularity?.stop();
      await this.replicas.stop().catch((err: unknown) => this.d.log.warn({ err }, 'closing replicas failed'));
      if (this.ownsCache) await closeRedis(this.cache);
    })();
    return this.stopping;
  }

  /** Send the read counts gathered so far to the popularity set now (else it happens every SLUICE_POPULARITY_FLUSH_MS). */
  flushPopularity(): Promise<void> {
    return this.popularity?.flush() ?? Promise.resolve();
  }

  /** Replica states for `/readyz` and logs (reads never make a node unready: the primary answers). */
  status(): { name: string; state: string; lagMs: number; reason: string }[] {
    return this.replicas.replicas.map((r) => ({ name: r.name, state: r.state, lagMs: r.lagMs, reason: r.reason }));
  }

  /** One row by key; with `token`, never older than that commit. */
  getRow(t: ReadTable, key: readonly string[], token?: LsnKey): Promise<RowRead> {
    return this.guard(this.keys.read(t, key, token));
  }

  /** Many rows by key, each through the cache; misses share queries. */
  async getRows(t: ReadTable, keys: readonly (readonly string[])[], token?: LsnKey): Promise<RowsRead> {
    const reads = await this.guard(this.keys.readMany(t, keys, token));
    let source: RowRead['source'] = 'cache';
    for (const r of reads) if (RANK[r.source] > RANK[source]) source = r.source;
    return { rows: reads.map((r) => r.row), source };
  }

  /** One keyset page (not cached: a list changes with every insert). */
  async list(t: ReadTable, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, token?: LsnKey): Promise<ListPage> {
    const r = await this.guard(this.loader.list(t.statements, filter, after, limit + 1, token));
    const more = r.rows.length > limit;
    const rows = more ? r.rows.slice(0, limit) : r.rows;
    return { rows: rows.map((x) => x.j), lastKey: more ? rows[rows.length - 1]!.key : null, source: r.source };
  }

  /** A database failure is a 503 for the client (logged with its cause), not a 500. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof AppError) throw err;
      this.d.log.error({ err }, 'read failed');
      throw new UnavailableError('the database did not answer the read; retry shortly', 1);
    }
  }

  /**
   * Wait (bounded) for the cache connection: it has no offline queue, so
   * reads before 'ready' would all skip the cache. Not ready in time: serve
   * from the database meanwhile (logged), never refuse to start.
   */
  private async cacheReady(): Promise<void> {
    if (this.cache.status === 'ready') return;
    const waitMs = this.d.config.SLUICE_REDIS_TIMEOUT_MS * 5;
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      this.cache.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!ready) this.d.log.warn({ waitMs }, 'cache Redis not ready: reads go to the database until it is');
  }

  private openCache(): Redis {
    const c = this.d.config;
    const redis = createRedis({ url: c.SLUICE_CACHE_REDIS_URL ?? c.REDIS_URL, role: 'cache', timeoutMs: c.SLUICE_REDIS_TIMEOUT_MS, name: `sluice-read-${this.d.nodeId ?? 'node'}` });
    const due = oncePer(1000); // a down Redis errors on every reconnect attempt
    redis.on('error', (err: Error) => {
      if (!due()) return;
      this.d.log.warn({ err: { message: err.message } }, 'cache redis connection error');
    });
    return redis;
  }
}

/** Build the read service (call start() before serving, stop() on shutdown). */
export function createReadService(deps: ReadServiceDeps): ReadService {
  return new ReadService(deps);
}

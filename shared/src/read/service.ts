import { Registry } from 'prom-client';
import type { Catalog, ColumnInfo } from '../catalog/types.ts';
import type { Queryable } from '../db/pool.ts';
import { AppError, UnavailableError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { RedisClient as Redis } from '../redis/connections.ts';
import { CacheStore } from './cache/store.ts';
import { PopularityCounter } from './cache/popularity.ts';
import { replicaSetOf, type ReplicaSet } from './replicas/set.ts';
import { RowLoader, type QueryWrapper } from './loader.ts';
import type { ReadPathDeps, ReadSettings } from './settings.ts';
import { prepareReadTables, type ReadTable } from './tables.ts';
import { type LsnKey } from './cache/lsn.ts';
import { BatchLoader } from './batch-loader.ts';
import { KeyReader, type RowRead } from './key-reader.ts';
import { ReadMetrics } from './metrics.ts';
import { perRegistry } from '../metrics/per-registry.ts';

/** What the read service needs (its replica pools it opens and closes itself). */
export interface ReadServiceDeps extends ReadPathDeps {
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
  private readonly loader: RowLoader;
  private readonly keys: KeyReader;
  private readonly popularity: PopularityCounter | undefined;
  private readTables: ReadonlyMap<string, ReadTable> = new Map();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly d: ReadServiceDeps) {
    const s = d.settings;
    this.registry = d.registry ?? new Registry();
    this.metrics = perRegistry(this.registry, 'read', () => new ReadMetrics(this.registry));
    this.cache = d.cache;
    this.store = new CacheStore(this.cache, s.prefix, s.ttls, s.leaseMs);
    this.replicas = replicaSetOf(s, d.primary, `sluice-read-${d.nodeId ?? 'node'}`, d.log, this.registry);
    const wrap = d.wrapQuery;
    const count: QueryWrapper = (source, table, run) => {
      this.metrics.dbQueries.inc({ source });
      return wrap ? wrap(source, table, run) : run();
    };
    this.loader = new RowLoader({ primary: d.primary, replicas: this.replicas, rywWaitMs: s.rywWaitMs, replicaTimeoutMs: s.replicas.readTimeoutMs, log: d.log, wrap: count });
    this.popularity = s.popularity.sample > 0 ? new PopularityCounter(this.cache, s.prefix, s.popularity) : undefined;
    this.keys = new KeyReader({ store: this.store, loader: new BatchLoader(this.loader), metrics: this.metrics, log: d.log, stampedeWaitMs: s.stampedeWaitMs, popularity: this.popularity });
  }

  /** The settings the service runs with. */
  get settings(): ReadSettings {
    return this.d.settings;
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

  /** Stop the monitor and close the replica pools. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {});
      await this.popularity?.stop();
      await this.replicas.stop().catch((err: unknown) => this.d.log.warn({ err }, 'closing replicas failed'));
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

  /** One keyset page in key order, `desc` for descending (not cached: a list changes with every insert). */
  async list(t: ReadTable, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, token?: LsnKey, desc = false): Promise<ListPage> {
    const r = await this.guard(this.loader.list(t.statements, filter, after, limit + 1, token, desc));
    const more = r.rows.length > limit;
    const rows = more ? r.rows.slice(0, limit) : r.rows;
    return { rows: rows.map((x) => x.j), lastKey: more ? rows[rows.length - 1]!.key : null, source: r.source };
  }

  /** One keyset page with each row's key and whether more follow (up to limit + 1 rows: the caller merges). */
  async listWithKeys(t: ReadTable, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, token?: LsnKey, desc = false): Promise<{ rows: { j: string; key: string[] }[]; source: 'replica' | 'primary' }> {
    const r = await this.guard(this.loader.list(t.statements, filter, after, limit + 1, token, desc));
    return { rows: r.rows, source: r.source };
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
    const waitMs = this.d.settings.cacheReadyWaitMs;
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      this.cache.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!ready) this.d.log.warn({ waitMs }, 'cache Redis not ready: reads go to the database until it is');
  }

}

/** Build the read service (call start() before serving, stop() on shutdown). */
export function createReadService(deps: ReadServiceDeps): ReadService {
  return new ReadService(deps);
}

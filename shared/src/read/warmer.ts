import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { every } from '../lifecycle/every.ts';
import { perRegistry } from '../metrics/per-registry.ts';
import type { Catalog } from '../catalog/types.ts';
import type { Logger } from '../log/index.ts';
import type { Queryable } from '../db/pool.ts';
import type { RedisClient as Redis } from '../redis/connections.ts';
import { CacheStore } from './cache/store.ts';
import { replicaSetOf, type ReplicaSet } from './replicas/set.ts';
import { RowLoader, type QueryWrapper } from './loader.ts';
import type { ReadPathDeps, WarmerSettings } from './settings.ts';
import { decayPopularity, hottest, restorePopularity } from './cache/popularity.ts';
import { maxLsn, type LsnKey } from './cache/lsn.ts';
import { parseRowId, type RowKeys } from './cache/keys.ts';
import { prepareReadTables, type ReadTable } from './tables.ts';
import { type CacheEntry } from './cache/entry.ts';
import { readable, type ViewStates } from '../views/states.ts';

/** What the warmer needs: the read path's parts and its own knobs. */
export interface WarmerDeps extends ReadPathDeps {
  warmer: WarmerSettings;
  /** The shard warmed (metrics label; default `main`). */
  shard?: string;
  /**
   * Whether this shard holds the row now (default: every row). With shards, a
   * hot key of a range moved away is left to expire, not refreshed from the
   * shard it left.
   */
  owns?: (table: string, key: readonly string[]) => boolean;
  /**
   * Read models, warmed like tables (their hot groups are in the same
   * popularity set): their read tables (tables.ts viewReadTable) and states.
   * A view that is not readable (`building`: its table is being filled) is
   * not warmed, as the gateway does not read it.
   */
  views?: { tables: ReadonlyMap<string, ReadTable>; states: ViewStates };
}

/** What one cycle did. */
export interface CycleStats {
  hot: number;
  /** Hot keys with no entry (cold start, Redis flush, expiry). */
  missing: number;
  /** Hot keys loaded and offered to the cache (lease taken). */
  refreshed: number;
  /** Entries the compare-and-set stored. */
  stored: number;
  /** The popularity set was gone and was restored from the last snapshot. */
  restored: boolean;
  /** Tables (or views) whose load failed this cycle; the others were still warmed. */
  failed: string[];
}

interface Due {
  table: ReadTable;
  key: string[];
  keys: RowKeys;
  entry: CacheEntry | null;
}

/** No view closed (a cycle with nothing to look at asks no state). */
const NONE: ReadonlySet<string> = new Set();

/** Keys per database query and per Redis burst. */
const CHUNK = 500;
/** How often the hot set is re-read and decayed: popularity moves slowly, and the set can be large. */
const HOT_REFRESH_MS = 10_000;

/**
 * The cache-warming service. Each cycle (SLUICE_WARMER_INTERVAL_MS):
 *   1. every HOT_REFRESH_MS: decay the popularity scores (once per period
 *      across all warmers) and re-read the SLUICE_WARMER_TOP_KEYS hottest —
 *      or, when the set is gone (Redis flushed or replaced), restore it from
 *      the last snapshot and forget what it knew of the entries;
 *   2. look at the entries of hot keys whose soft expiry it does not know or
 *      expects within one look-ahead (it remembers the expiry it saw or set,
 *      so a cycle reads only what may be due, not every hot entry);
 *   3. those missing (cold start, flush), fenced, or about to go stale: take
 *      each one's lease in `refresh` mode (so no gateway refreshes it at the
 *      same time), load them in batches from a replica at least as new as the
 *      entries they replace (else the primary), and fill with the same LSN
 *      compare-and-set as every other fill.
 * Readers of hot keys (table rows and read-model groups alike) so find fresh
 * entries and never pay a miss or a stale read.
 */
export class Warmer {
  readonly registry: Registry;
  private readonly replicas: ReplicaSet;
  private readonly loader: RowLoader;
  private readonly store: CacheStore;
  private readonly lookaheadMs: number;
  private readonly metrics: { cycles: Histogram; refreshed: Counter; hot: Gauge<'shard'> };
  private tables: ReadonlyMap<string, ReadTable> = new Map();
  private snapshot: { id: string; score: number }[] = [];
  private hot: { id: string; score: number }[] = [];
  private nextHotRead = 0;
  /** Soft expiry of hot entries as last seen or set (ms since the epoch); absent = look at it. */
  private readonly softUntil = new Map<string, number>();
  private loop: { stop(): void } | undefined;
  private running: Promise<CycleStats> | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly d: WarmerDeps) {
    const s = d.settings;
    this.registry = d.registry ?? new Registry();
    this.replicas = replicaSetOf(s, d.primary, 'sluice-warmer', d.log, this.registry);
    // Refreshes may wait for a replica as long as a read-your-writes read would.
    this.loader = new RowLoader({ primary: d.primary, replicas: this.replicas, rywWaitMs: s.rywWaitMs, replicaTimeoutMs: s.replicas.readTimeoutMs, log: d.log, ...(d.wrapQuery ? { wrap: d.wrapQuery } : {}) });
    this.store = new CacheStore(d.cache, s.prefix, s.ttls, s.leaseMs);
    // Two cycles ahead (one may run late), at least a tenth of the soft TTL, at most half of it.
    const soft = s.ttls.softTtlMs;
    this.lookaheadMs = Math.min(soft / 2, Math.max(2 * d.warmer.intervalMs, soft / 10));
    const registers = [this.registry];
    this.metrics = perRegistry(this.registry, 'warmer', () => ({
      cycles: new Histogram({ name: 'sluice_warmer_cycle_seconds', help: 'Duration of one warmer cycle', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10], registers }),
      refreshed: new Counter({ name: 'sluice_warmer_refreshed_total', help: 'Hot keys the warmer loaded into the cache', registers }),
      hot: new Gauge({ name: 'sluice_warmer_hot_keys', help: 'Keys in the last hot set, by shard', labelNames: ['shard'], registers }),
    }));
  }

  /** Prepare statements, start the replica monitor, run the first cycle, then one per interval. Idempotent. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      this.tables = new Map([...(await prepareReadTables(this.d.catalog)), ...(this.d.views?.tables ?? [])]);
      this.d.cache.on('ready', this.onReconnect);
      await this.replicas.start();
      await this.cycleNow().catch((err: unknown) => this.d.log.warn({ err }, 'first warmer cycle failed'));
      if (!this.stopping) this.loop = every(this.d.warmer.intervalMs, () => this.cycleNow(), (err) => this.d.log.warn({ err }, 'warmer cycle failed'));
    })();
    return this.starting;
  }

  /** Stop cycling (waits for a cycle in flight) and close the replica pools. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.d.cache.off('ready', this.onReconnect);
      await this.starting?.catch(() => {});
      this.loop?.stop();
      await this.running?.catch(() => {});
      await this.replicas.stop();
    })();
    return this.stopping;
  }

  /**
   * Forget what the warmer knows of the cache: the next cycle re-reads the hot
   * set and looks at every hot entry. Called when the cache connection comes
   * back (the Redis behind it may have restarted empty).
   */
  forget(): void {
    this.nextHotRead = 0;
    this.softUntil.clear();
  }

  /** Run one cycle now (shared with one in flight). */
  cycleNow(): Promise<CycleStats> {
    this.running ??= this.cycle().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private readonly onReconnect = (): void => this.forget();


  private async cycle(): Promise<CycleStats> {
    const end = this.metrics.cycles.startTimer();
    const restored = Date.now() >= this.nextHotRead ? await this.readHot() : false;
    const now = Date.now();
    const hot = this.hot;
    const stats: CycleStats = { hot: hot.length, missing: 0, refreshed: 0, stored: 0, restored, failed: [] };
    const look = hot.map((h) => h.id).filter((id) => (this.softUntil.get(id) ?? 0) - now < this.lookaheadMs);
    const closed = look.length === 0 ? NONE : await this.closedViews(); // most cycles look at nothing: no state query then
    const errors = new Map<string, unknown>();
    for (let i = 0; i < look.length; i += CHUNK) await this.warmChunk(look.slice(i, i + CHUNK), stats, closed, errors);
    if (errors.size > 0) {
      stats.failed = [...errors.keys()];
      this.d.log.warn({ err: errors.values().next().value, tables: stats.failed }, 'warmer could not load the hot keys of some tables this cycle; the others were warmed');
    }
    if (stats.missing > 0 && stats.missing >= hot.length / 2) this.d.log.info({ missing: stats.missing, hot: hot.length }, 'cache cold: preloaded the hottest keys');
    end();
    return stats;
  }

  /** Step 1 of the class comment. Resolves true when the set had to be restored. */
  private async readHot(): Promise<boolean> {
    const w = this.d.warmer;
    const prefix = this.d.settings.prefix;
    const period = Math.max(HOT_REFRESH_MS, w.intervalMs);
    this.nextHotRead = Date.now() + period;
    await decayPopularity(this.d.cache, prefix, 0.5 ** (period / (w.halfLifeS * 1000)), Math.min(w.topKeys * 2, w.popularity.maxMembers), period, w.popularity.ttlMs);
    let hot = await hottest(this.d.cache, prefix, w.topKeys);
    let restored = false;
    if (hot.length === 0 && this.snapshot.length > 0) {
      this.d.log.warn({ keys: this.snapshot.length }, 'popularity set is gone (Redis flushed or replaced): restoring it from the last snapshot and preloading');
      await restorePopularity(this.d.cache, prefix, this.snapshot, w.popularity.ttlMs);
      hot = this.snapshot;
      restored = true;
      this.softUntil.clear(); // the entries went with it
    }
    this.snapshot = hot;
    this.hot = hot;
    const ids = new Set(hot.map((h) => h.id));
    for (const id of this.softUntil.keys()) if (!ids.has(id)) this.softUntil.delete(id);
    this.metrics.hot.set({ shard: this.d.shard ?? 'main' }, hot.length);
    return restored;
  }

  /** Steps 3 and 4 of the class comment for one chunk of row ids. */
  private async warmChunk(ids: readonly string[], stats: CycleStats, closed: ReadonlySet<string>, errors: Map<string, unknown>): Promise<void> {
    const now = Date.now();
    const candidates = ids.map((id) => this.candidate(id, closed)).filter((x): x is Omit<Due, 'entry'> => x !== null);
    const entries = await Promise.all(candidates.map((x) => this.store.get(x.keys)));
    const due: Due[] = [];
    candidates.forEach((x, i) => {
      const entry = entries[i] ?? null;
      if (entry === null) stats.missing++;
      if (entry === null || entry.kind === 'f' || entry.softUntil - now < this.lookaheadMs) due.push({ ...x, entry });
      else this.softUntil.set(x.keys.id, entry.softUntil);
    });
    const leases = await Promise.all(due.map((x) => this.store.acquire(x.keys, 'refresh')));
    const byTable = new Map<ReadTable, { due: Due; token: string }[]>();
    due.forEach((x, i) => {
      const a = leases[i]!;
      if (a.type !== 'lease') {
        this.softUntil.delete(x.keys.id); // a gateway is refreshing it right now: look again next cycle
        return;
      }
      const list = byTable.get(x.table) ?? [];
      list.push({ due: x, token: a.token });
      byTable.set(x.table, list);
    });
    for (const [table, items] of byTable) {
      // One table's failure (a view whose file here is older than its table's shape, a dropped
      // column) leaves the others warmed; the cycle logs it once.
      try {
        await this.refresh(table, items, stats);
      } catch (err) {
        if (!errors.has(table.name)) errors.set(table.name, err);
      }
    }
  }

  /** Views not read now (state `building`, or not known yet): this cycle leaves their groups alone. */
  private async closedViews(): Promise<ReadonlySet<string>> {
    const v = this.d.views;
    const closed = new Set<string>();
    if (v === undefined) return closed;
    for (const name of v.tables.keys()) {
      const state = await v.states.stateOf(name);
      if (state === undefined || !readable(state)) closed.add(name);
    }
    return closed;
  }

  private candidate(id: string, closed: ReadonlySet<string>): Omit<Due, 'entry'> | null {
    const parsed = parseRowId(id);
    const table = parsed === null || closed.has(parsed.table) ? undefined : this.tables.get(parsed.table);
    if (parsed === null || table === undefined || !table.cacheable || parsed.key.length !== table.info.primaryKey.length) return null;
    if (this.d.owns !== undefined && !this.d.owns(parsed.table, parsed.key)) return null;
    return { table, key: parsed.key, keys: this.store.keysOfId(id) };
  }

  private async refresh(table: ReadTable, items: { due: Due; token: string }[], stats: CycleStats): Promise<void> {
    // At least as new as every entry being replaced, or their compare-and-set would refuse the fill.
    let minLsn: LsnKey | undefined;
    for (const it of items) minLsn = maxLsn(minLsn, it.due.entry?.lsn);
    let loaded;
    try {
      loaded = await this.loader.load(table.statements, items.map((it) => it.due.key), minLsn);
    } catch (err) {
      await Promise.allSettled(items.map((it) => this.store.release(it.due.keys, it.token)));
      throw err;
    }
    const fills = await Promise.all(items.map((it, i) => this.store.fill(it.due.keys, loaded.lsn, loaded.rows[i] ?? null, it.token)));
    fills.forEach((f, i) => {
      const id = items[i]!.due.keys.id;
      if (f.type === 'stored') this.softUntil.set(id, f.softUntil);
      else this.softUntil.delete(id);
    });
    stats.refreshed += items.length;
    stats.stored += fills.filter((f) => f.type === 'stored').length;
    this.metrics.refreshed.inc(items.length);
  }
}

import { maxLsn, type LsnKey } from './cache/lsn.ts';
import { type CacheEntry } from './cache/entry.ts';
import { type CacheStore, type Filled } from './cache/store.ts';
import { type DbSource } from './loader.ts';
import { type PopularityCounter } from './cache/popularity.ts';
import { type ReadTable } from './tables.ts';
import { type RowKeys } from './cache/keys.ts';
import { oncePer, type Logger } from '../log/index.ts';
import type { BatchLoader, LoadedRow } from './batch-loader.ts';
import type { LookupResult, ReadMetrics } from './metrics.ts';
import { SingleFlight } from './single-flight.ts';

/** One row read by key. */
export interface RowRead {
  /** Row JSON, or null: no such row. */
  row: string | null;
  source: 'cache' | DbSource;
  /** The data reflects every commit whose consistency token is ≤ this. */
  lsn: LsnKey;
  status: LookupResult;
  /** Cached rows: ms until (negative: since) the soft TTL ran out. */
  ttlMs?: number;
}

/** What a key reader needs. */
export interface KeyReaderDeps {
  store: CacheStore;
  loader: BatchLoader;
  metrics: ReadMetrics;
  log: Logger;
  /** SLUICE_STAMPEDE_WAIT_MS */
  stampedeWaitMs: number;
  popularity?: PopularityCounter | undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Poll delays while another node fills a key: short first (fills take ~1 ms), capped. */
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 25;

function fromEntry(e: CacheEntry, status: LookupResult, now = Date.now()): RowRead {
  return { row: e.kind === 'v' ? e.body : null, source: 'cache', lsn: e.lsn, status, ttlMs: e.softUntil - now };
}

/** May a read with `token` be answered from `e`? A row or tombstone at least as new as the token; a fence never. */
function answers(e: CacheEntry, token: LsnKey | undefined): boolean {
  return e.kind !== 'f' && (token === undefined || e.lsn >= token);
}

/** The answer when `e` is fresh and may answer a read with `token`, else null. */
function freshHit(e: CacheEntry | null, token: LsnKey | undefined, now = Date.now()): RowRead | null {
  return e !== null && answers(e, token) && now < e.softUntil ? fromEntry(e, 'hit', now) : null;
}

function fromDb(r: LoadedRow, status: LookupResult): RowRead {
  return { row: r.row, source: r.source, lsn: r.lsn, status };
}

type Waited = { entry: CacheEntry } | { leaseFreed: true } | { timedOut: true };

/**
 * Reads one row by key through the cache. The states of a key, as a reader
 * sees them:
 *
 *   fresh entry       → serve it (hit)
 *   stale entry       → serve it, and refresh it in the background unless this
 *                       node or another already does (lease in `refresh` mode)
 *   entry older than the request's token, or a fence → read a source at least
 *                       that new (request / miss)
 *   no entry          → take the lease: the holder reads the database and
 *                       fills; everyone else polls the entry until it appears,
 *                       the lease vanishes (holder died: try to take it), or
 *                       SLUICE_STAMPEDE_WAIT_MS passes (read the database)
 *
 * Every fill is a compare-and-set on LSN (scripts.ts FILL): when a newer
 * entry won, the newer entry is what the reader returns. Redis failures
 * degrade to database reads; they never fail the request.
 */
export class KeyReader {
  private readonly flights = new SingleFlight<RowRead>();
  private readonly refreshing = new Set<string>();
  /** The hot path's counter (labels given once). */
  private readonly hits;
  /** With Redis down every read would warn: once a second is enough. */
  private readonly warnDue = oncePer(1000);

  constructor(private readonly d: KeyReaderDeps) {
    this.hits = d.metrics.lookups.labels({ result: 'hit' });
  }

  /** Read `key` of `table`; with `token`, never older than it. */
  async read(t: ReadTable, key: readonly string[], token: LsnKey | undefined): Promise<RowRead> {
    if (!t.cacheable) return this.bypass(t, key, token);
    const k = this.d.store.keys(t.name, key);
    let entry: CacheEntry | null;
    try {
      entry = await this.d.store.get(k);
    } catch (err) {
      this.warnUncached(err);
      return this.uncached(t, key, token);
    }
    const hit = freshHit(entry, token);
    if (hit === null) return this.counted(k.id, this.afterLookup(t, key, k, token, entry));
    this.hits.inc();
    this.count(k.id, hit);
    return hit;
  }

  /**
   * Count a read for the warmer only when it found a row: misses of rows that
   * do not exist would fill the popularity set with keys nobody can warm.
   */
  private count(id: string, r: RowRead): void {
    if (r.row !== null) this.d.popularity?.recordRead(id);
  }

  private counted(id: string, r: RowRead | Promise<RowRead>): RowRead | Promise<RowRead> {
    if (this.d.popularity === undefined) return r;
    if (!(r instanceof Promise)) {
      this.count(id, r);
      return r;
    }
    return r.then((v) => {
      this.count(id, v);
      return v;
    });
  }

  /**
   * Read many keys of `table` (a multi-get): one Redis round trip and command
   * for all their entries, then each as `read` would. Fresh hits, the common
   * case, are answered in one pass without a promise each.
   */
  async readMany(t: ReadTable, keys: readonly (readonly string[])[], token: LsnKey | undefined): Promise<RowRead[]> {
    if (!t.cacheable) return Promise.all(keys.map((key) => this.bypass(t, key, token)));
    const ks = keys.map((key) => this.d.store.keys(t.name, key));
    let entries: (CacheEntry | null)[];
    try {
      entries = await this.d.store.getMany(ks);
    } catch (err) {
      this.warnUncached(err);
      return Promise.all(keys.map((key) => this.uncached(t, key, token)));
    }
    const now = Date.now();
    const out: (RowRead | Promise<RowRead>)[] = new Array(keys.length);
    let hits = 0;
    let pending = false;
    for (let i = 0; i < keys.length; i++) {
      const e = entries[i]!;
      const hit = freshHit(e, token, now);
      if (hit !== null) {
        hits++;
        this.count(ks[i]!.id, hit);
      } else pending = true;
      out[i] = hit ?? this.counted(ks[i]!.id, this.afterLookup(t, keys[i]!, ks[i]!, token, e));
    }
    if (hits > 0) this.hits.inc(hits);
    return pending ? Promise.all(out) : (out as RowRead[]);
  }

  /** What to do with an entry that is not a fresh hit (see the class comment). */
  private afterLookup(t: ReadTable, key: readonly string[], k: RowKeys, token: LsnKey | undefined, entry: CacheEntry | null): RowRead | Promise<RowRead> {
    if (entry !== null && answers(entry, token)) {
      const now = Date.now();
      this.d.metrics.lookups.inc({ result: 'stale' });
      this.refresh(t, key, k, entry);
      return fromEntry(entry, 'stale', now);
    }
    const status: LookupResult = entry !== null && entry.kind !== 'f' ? 'request' : 'miss';
    this.d.metrics.lookups.inc({ result: status });
    const minLsn = maxLsn(token, entry?.kind === 'f' ? entry.lsn : undefined);
    // A token read needs data at least as new as its token, which another
    // reader's fill may not be: it reads on its own (single-flight per token).
    if (token !== undefined) return this.flights.do(`${k.entry}\u0000${token}`, () => this.direct(t, key, k, minLsn, status));
    return this.flights.do(k.entry, () => this.leased(t, key, k, minLsn));
  }

  /** A table the cache cannot key (keys.ts `isCacheable`): straight to the database. */
  private async bypass(t: ReadTable, key: readonly string[], token: LsnKey | undefined): Promise<RowRead> {
    this.d.metrics.lookups.inc({ result: 'bypass' });
    return fromDb(await this.d.loader.load(t, key, token), 'bypass');
  }

  /** Redis failed: read the database, skip the cache. */
  private async uncached(t: ReadTable, key: readonly string[], token: LsnKey | undefined): Promise<RowRead> {
    this.d.metrics.lookups.inc({ result: 'error' });
    return fromDb(await this.d.loader.load(t, key, token), 'error');
  }

  private warnUncached(err: unknown): void {
    if (!this.warnDue()) return;
    this.d.log.warn({ err: { message: (err as Error).message } }, 'cache unavailable; reading the database');
  }

  private async direct(t: ReadTable, key: readonly string[], k: RowKeys, minLsn: LsnKey | undefined, status: LookupResult): Promise<RowRead> {
    const r = await this.d.loader.load(t, key, minLsn);
    return this.afterFill(r, await this.fill(k, r, ''), status);
  }

  /** Miss without a token: one reader per cluster loads (see the class comment). */
  private async leased(t: ReadTable, key: readonly string[], k: RowKeys, minLsn: LsnKey | undefined): Promise<RowRead> {
    const deadline = Date.now() + this.d.stampedeWaitMs;
    for (;;) {
      let a;
      try {
        a = await this.d.store.acquire(k, 'miss');
      } catch (err) {
        this.warnUncached(err);
        return this.uncached(t, key, minLsn);
      }
      if (a.type === 'entry') return fromEntry(a.entry, 'hit');
      const min = maxLsn(minLsn, a.entry?.kind === 'f' ? a.entry.lsn : undefined);
      if (a.type === 'lease') return this.loadAndFill(t, key, k, min, a.token);
      const w = await this.waitForFill(k, deadline);
      if ('entry' in w) {
        this.d.metrics.waits.inc({ outcome: 'filled' });
        return fromEntry(w.entry, 'hit');
      }
      if ('timedOut' in w) {
        this.d.metrics.waits.inc({ outcome: 'timeout' });
        return this.direct(t, key, k, min, 'miss');
      }
      // The holder died or gave up without filling: take the lease ourselves (bounded by the deadline).
      this.d.metrics.waits.inc({ outcome: 'lease_freed' });
    }
  }

  private async loadAndFill(t: ReadTable, key: readonly string[], k: RowKeys, minLsn: LsnKey | undefined, token: string): Promise<RowRead> {
    let r: LoadedRow;
    try {
      r = await this.d.loader.load(t, key, minLsn);
    } catch (err) {
      this.d.store.release(k, token).catch(() => {}); // else waiters wait out the lease TTL
      throw err;
    }
    return this.afterFill(r, await this.fill(k, r, token), 'miss');
  }

  private async fill(k: RowKeys, r: LoadedRow, token: string): Promise<Filled | null> {
    try {
      const f = await this.d.store.fill(k, r.lsn, r.row, token);
      this.d.metrics.fills.inc({ result: f.type });
      return f;
    } catch (err) {
      this.d.metrics.fills.inc({ result: 'error' });
      this.d.log.warn({ err: { message: (err as Error).message } }, 'cache fill failed');
      return null;
    }
  }

  /** A newer entry that won the compare-and-set is newer data than ours: answer with it. */
  private afterFill(r: LoadedRow, f: Filled | null, status: LookupResult): RowRead {
    if (f !== null && f.type === 'kept' && f.entry !== null && f.entry.kind !== 'f') return fromEntry(f.entry, status);
    return fromDb(r, status);
  }

  private async waitForFill(k: RowKeys, deadline: number): Promise<Waited> {
    for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
      const left = deadline - Date.now();
      if (left <= 0) return { timedOut: true };
      await sleep(Math.min(delay, left));
      try {
        const p = await this.d.store.peek(k);
        if (p.entry !== null && p.entry.kind !== 'f') return { entry: p.entry };
        if (p.leasePttlMs <= 0) return { leaseFreed: true };
      } catch {
        return { timedOut: true };
      }
    }
  }

  /** Stale-while-revalidate: one refresh per key on this node, and one per cluster (the lease). */
  private refresh(t: ReadTable, key: readonly string[], k: RowKeys, stale: CacheEntry): void {
    if (this.refreshing.has(k.entry)) return;
    this.refreshing.add(k.entry);
    (async () => {
      const a = await this.d.store.acquire(k, 'refresh');
      if (a.type !== 'lease') return;
      this.d.metrics.refreshes.inc();
      // At least as new as the stale entry, or its compare-and-set would fail.
      await this.loadAndFill(t, key, k, stale.lsn, a.token);
    })()
      .catch((err: unknown) => this.d.log.warn({ err: { message: (err as Error).message } }, 'background cache refresh failed'))
      .finally(() => this.refreshing.delete(k.entry));
  }
}

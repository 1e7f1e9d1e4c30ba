import type { RedisClient as Redis } from '../../redis/connections.ts';
import type { Config } from '../../config/schema.ts';
import { decodeEntry, encodeEntry, type CacheEntry } from './entry.ts';
import { keysOfId, rowKeys, type RowKeys } from './keys.ts';
import type { LsnKey } from './lsn.ts';
import { ACQUIRE, FILL, RELEASE } from './scripts.ts';
import DataLoader from 'dataloader';
import { perSlot } from '../../redis/slots.ts';

/** Cache lifetimes, in ms. */
export interface CacheTtls {
  /** Hard TTL of rows and delete tombstones (SLUICE_CACHE_TTL_S). */
  ttlMs: number;
  /** Soft TTL: stale after this, refreshed in the background (SLUICE_CACHE_SOFT_TTL_S). */
  softTtlMs: number;
  /** Lifetime of a "no such row" entry (SLUICE_NEGATIVE_TTL_S). */
  negativeTtlMs: number;
  /** ± spread of each TTL, percent (SLUICE_CACHE_TTL_JITTER_PCT). */
  jitterPct: number;
}

/** The schema's defaults, for callers without a Config at hand. */
export const DEFAULT_TTLS: Readonly<CacheTtls> = Object.freeze({ ttlMs: 300_000, softTtlMs: 30_000, negativeTtlMs: 5_000, jitterPct: 10 });

/** Cache lifetimes from the config. */
export function cacheTtlsOf(config: Readonly<Config>): CacheTtls {
  return {
    ttlMs: config.SLUICE_CACHE_TTL_S * 1000,
    softTtlMs: config.SLUICE_CACHE_SOFT_TTL_S * 1000,
    negativeTtlMs: config.SLUICE_NEGATIVE_TTL_S * 1000,
    jitterPct: config.SLUICE_CACHE_TTL_JITTER_PCT,
  };
}

/** `ms` ± `pct` percent, at least 1 ms. Keys filled together should not all expire together. */
export function jitter(ms: number, pct: number): number {
  if (pct <= 0) return ms;
  return Math.max(1, Math.round(ms * (1 + ((Math.random() * 2 - 1) * pct) / 100)));
}

/** An encoded entry and its hard TTL, ready for SET PX. */
export interface EntryWrite {
  value: string;
  ttlMs: number;
  /** When the entry goes stale (ms since the epoch). */
  softUntil: number;
}

/**
 * Build the entry for a row state. `row` JSON text → a row; `null` → no such
 * row: a short negative entry for a fill, a long tombstone for a delete
 * (`tombstone`), which must outlive any replica lag so that a lagging fill can
 * never bring the deleted row back.
 */
export function entryFor(ttls: CacheTtls, lsn: LsnKey, row: string | null, tombstone = false, now = Date.now()): EntryWrite {
  if (row === null && !tombstone) {
    const hard = jitter(ttls.negativeTtlMs, ttls.jitterPct);
    return { value: encodeEntry('n', lsn, now + hard), ttlMs: hard, softUntil: now + hard };
  }
  const hard = jitter(ttls.ttlMs, ttls.jitterPct);
  const softUntil = now + Math.min(hard, row === null ? ttls.softTtlMs : jitter(ttls.softTtlMs, ttls.jitterPct));
  return { value: row === null ? encodeEntry('n', lsn, softUntil) : encodeEntry('v', lsn, softUntil, row), ttlMs: hard, softUntil };
}

/** A fence: "a write happened at `lsn`; read the row from a source at least that new". */
export function fenceFor(ttls: CacheTtls, lsn: LsnKey, now = Date.now()): EntryWrite {
  return { value: encodeEntry('f', lsn, now), ttlMs: jitter(ttls.ttlMs, ttls.jitterPct), softUntil: now };
}

/** Outcome of `acquire`. */
export type Acquired =
  | { readonly type: 'entry'; readonly entry: CacheEntry }
  | { readonly type: 'lease'; readonly token: string; readonly entry: CacheEntry | null }
  | { readonly type: 'held'; readonly pttlMs: number; readonly entry: CacheEntry | null };

/** Outcome of `fill`. */
export type Filled =
  /** Stored; the new entry goes stale at `softUntil`. */
  | { readonly type: 'stored'; readonly softUntil: number }
  /** The cached entry was newer and stays. */
  | { readonly type: 'kept'; readonly entry: CacheEntry | null }
  /** The caller's lease had lapsed and another reader holds it now. */
  | { readonly type: 'fenced'; readonly entry: CacheEntry | null };

type Row = [number, string | null | undefined, string | null | undefined];

interface AcquireReq {
  k: RowKeys;
  mode: 'miss' | 'refresh';
}

interface FillReq {
  k: RowKeys;
  w: EntryWrite;
  token: string;
}

/** Rows per lease or fill script call: enough to share the call's cost, few enough not to hold Redis up (~10 µs a row: under a millisecond). */
export const DEFAULT_SCRIPT_BATCH = 64;

/**
 * Redis side of the read cache: entries, leases and their scripts. Stateless
 * apart from its settings and the calls gathered for the current turn; the
 * connection is the caller's (role `cache`, auto-pipelined: concurrent GETs
 * of many requests share round trips).
 *
 * Lease and fill calls made in the same turn run as one script call: under
 * load the replies to many requests' cache GETs arrive in one socket read,
 * so their misses ask for leases in the same turn, and one database query
 * answers many misses at once, so their fills come together too (in a run
 * of the read bench's misses: 8,203 script calls instead of 67,893, ~8 %
 * more misses per second). One call's keys must live in one slot: on a
 * Redis Cluster the calls of a turn are split per slot (each row has its own
 * hash tag, so most groups hold one row; ioredis pipelines them per master).
 */
export class CacheStore {
  private readonly acquires: DataLoader<AcquireReq, Row>;
  private readonly fills: DataLoader<FillReq, Row>;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    readonly ttls: CacheTtls,
    readonly leaseMs: number,
    /** Rows per script call at most (on a Redis Cluster, calls are split per slot as well). */
    readonly batch = DEFAULT_SCRIPT_BATCH,
  ) {
    // DataLoader gathers the calls of one turn (cache off: every call is its own row).
    const o = { cache: false, maxBatchSize: batch } as const;
    this.acquires = new DataLoader((reqs) => this.runAcquire(reqs), o);
    this.fills = new DataLoader((reqs) => this.runFill(reqs), o);
  }

  /** Redis keys of a row. */
  keys(table: string, key: readonly string[]): RowKeys {
    return rowKeys(this.prefix, table, key);
  }

  /** Redis keys of a row by its id (`table|key`). */
  keysOfId(id: string): RowKeys {
    return keysOfId(this.prefix, id);
  }

  /** The cached entry, if any. */
  async get(k: RowKeys): Promise<CacheEntry | null> {
    return decodeEntry(await this.redis.get(k.entry));
  }

  /**
   * The cached entries of many rows, in order: one MGET (on a Redis Cluster,
   * one per slot: keys of different rows live on different nodes).
   */
  async getMany(ks: readonly RowKeys[]): Promise<(CacheEntry | null)[]> {
    if (ks.length === 0) return [];
    const raw = await perSlot(this.redis, ks, (k) => k.entry, (group) => this.redis.mget(group.map((k) => k.entry)));
    return raw.map((r) => decodeEntry(r));
  }

  /** Entry and the lease's remaining ms (≤ 0: no lease), in one round trip. */
  async peek(k: RowKeys): Promise<{ entry: CacheEntry | null; leasePttlMs: number }> {
    const [raw, pttl] = await Promise.all([this.redis.get(k.entry), this.redis.pttl(k.lease)]);
    return { entry: decodeEntry(raw), leasePttlMs: pttl };
  }

  /** Take the fill lease (see scripts.ts ACQUIRE). */
  async acquire(k: RowKeys, mode: 'miss' | 'refresh'): Promise<Acquired> {
    const r = await this.acquires.load({ k, mode });
    if (r[0] === 1) {
      const entry = decodeEntry(r[1]);
      if (entry !== null) return { type: 'entry', entry };
    }
    const entry = decodeEntry(r[2]);
    if (r[0] === 2) return { type: 'lease', token: r[1]!, entry };
    return { type: 'held', pttlMs: Number(r[1]), entry };
  }

  /** Store `row` (JSON text or null = no such row) as of `lsn`, compare-and-set; releases the lease `token`. */
  async fill(k: RowKeys, lsn: LsnKey, row: string | null, token = ''): Promise<Filled> {
    const w = entryFor(this.ttls, lsn, row);
    const r = await this.fills.load({ k, w, token });
    if (r[0] === 1) return { type: 'stored', softUntil: w.softUntil };
    return { type: r[0] === 2 ? 'kept' : 'fenced', entry: decodeEntry(r[1]) };
  }

  /** Give a lease back (the load failed), if still ours. */
  async release(k: RowKeys, token: string): Promise<void> {
    await RELEASE.run(this.redis, [k.lease], [token]);
  }

  private runAcquire(reqs: readonly AcquireReq[]): Promise<Row[]> {
    return perSlot(this.redis, reqs, (r) => r.k.entry, (group) => this.acquireGroup(group));
  }

  private runFill(reqs: readonly FillReq[]): Promise<Row[]> {
    return perSlot(this.redis, reqs, (r) => r.k.entry, (group) => this.fillGroup(group));
  }

  private async acquireGroup(reqs: readonly AcquireReq[]): Promise<Row[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [this.leaseMs];
    for (const r of reqs) {
      keys.push(r.k.entry, r.k.lease);
      args.push(r.mode);
    }
    return (await ACQUIRE.run(this.redis, keys, args)) as Row[];
  }

  private async fillGroup(reqs: readonly FillReq[]): Promise<Row[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const r of reqs) {
      keys.push(r.k.entry, r.k.lease);
      args.push(r.w.value, r.w.ttlMs, r.token);
    }
    return (await FILL.run(this.redis, keys, args)) as Row[];
  }
}

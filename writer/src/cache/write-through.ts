import { isCacheable, rowKeys } from '@sluice/shared/read/cache/keys.ts';
import type { CacheTtls } from '@sluice/shared/read/cache/store.ts';
import { fenceKeys, writeThrough } from '@sluice/shared/read/cache/write-through.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { keyValuesOf } from '@sluice/shared/catalog/keys.ts';
import type { AddressedOutcome, BatchJob, FlushResult } from '../flush/types.ts';

/**
 * After a batch commits and before it is acknowledged, bring the cache up to
 * the commit, compare-and-set on its LSN in Lua (shared/src/cache), so an
 * older entry or a slow fill from a lagging replica can never replace it:
 *
 * - `values` (default): every row an upsert or update wrote becomes a fresh
 *   cache entry (`row_to_json`, as the read path caches it); a deleted row
 *   becomes a tombstone. A read right after the write is a hit. A plain
 *   insert makes a new key (nothing cached but perhaps "no such row"): its
 *   key is fenced, costing one read, not a row returned per insert.
 * - `fence`: the keys are only fenced at the LSN; the next read loads the
 *   row from a source at least that new. Statements return less (no rows).
 *
 * Keys a request named but no statement returned (an update or delete that
 * matched nothing, an upsert that did nothing, a dead-lettered request, a
 * replayed dead letter) are fenced in both modes: harmless, one extra miss.
 * An insert whose key Postgres generated is fenced only when the client
 * asked for the key (a negative entry for an unseen key lives at most
 * SLUICE_NEGATIVE_TTL_S, and a read with the write's consistency token skips
 * it: its LSN is older).
 */
export class CacheWriteThrough {
  constructor(
    /** A `cache`-role connection. */
    private readonly redis: Redis,
    private readonly catalog: Catalog,
    /** The cache prefix of a shard's rows (`cachePrefixOf`). */
    private readonly prefixOf: (shard: string) => string,
    private readonly ttls: CacheTtls,
    private readonly log: Logger,
  ) {}

  /** Store or fence what `jobs` wrote (`res`) on `shard`. Never throws: a failure is logged (RYW reads do not depend on it). */
  async apply(shard: string, jobs: readonly BatchJob[], res: Pick<FlushResult, 'acks' | 'lsn' | 'written'>): Promise<void> {
    const prefix = this.prefixOf(shard);
    const named = keysWritten(this.catalog, jobs, res.acks);
    // Keys stored with their value are not fenced as well (a fence at the same LSN would replace the value).
    const stored = new Set(res.written.map((r) => rowKeys(prefix, r.table, r.key).entry));
    const fence = stored.size === 0 ? named : named.filter((k) => !stored.has(rowKeys(prefix, k.table, k.key).entry));
    if (res.written.length === 0 && fence.length === 0) return;
    try {
      await Promise.all([
        res.written.length > 0 ? writeThrough(this.redis, this.catalog, prefix, res.written, res.lsn, this.ttls) : 0,
        fence.length > 0 ? fenceKeys(this.redis, this.catalog, prefix, fence, res.lsn, this.ttls) : 0,
      ]);
    } catch (err) {
      this.log.warn({ err, rows: res.written.length, fenced: fence.length }, 'cache write-through after commit failed; cached rows may be served until their soft TTL');
    }
  }
}

/** Every (table, key) a batch wrote: keys named in the ops, plus keys Postgres generated and returned. */
export function keysWritten(catalog: Catalog, jobs: readonly BatchJob[], acks: readonly AddressedOutcome[]): { table: string; key: string[] }[] {
  const out: { table: string; key: string[] }[] = [];
  const opsById = new Map<string, WriteOp[]>();
  for (const job of jobs) {
    for (const req of job.data.reqs) {
      opsById.set(req.id, req.ops);
      for (const op of req.ops) {
        const table = catalog.get(op.t);
        const key = table && isCacheable(table) ? keyValuesOf(table, op) : null;
        if (key) out.push({ table: op.t, key });
      }
    }
  }
  for (const { outcome } of acks) {
    if (outcome.s !== 'committed' || !outcome.keys) continue;
    const ops = opsById.get(outcome.id) ?? [];
    outcome.keys.forEach((k, i) => {
      const op = ops[i];
      const table = op && catalog.get(op.t);
      if (!k || !table) return;
      out.push({ table: op.t, key: table.primaryKey.map((c) => String(k[c.name])) });
    });
  }
  return out;
}

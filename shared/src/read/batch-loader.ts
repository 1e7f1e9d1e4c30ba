import DataLoader from 'dataloader';
import type { LsnKey } from './cache/lsn.ts';
import type { DbSource, RowLoader } from './loader.ts';
import type { ReadTable } from './tables.ts';

/** One row as loaded, with the stamp and source of the query that read it. */
export interface LoadedRow {
  row: string | null;
  lsn: LsnKey;
  source: DbSource;
}

/** Keys per query; a bigger burst becomes several queries. */
const MAX_BATCH = 500;

/**
 * Coalesces the row loads started in one turn of the event loop (the misses
 * of a multi-get, and the misses of concurrent requests whose sockets were
 * read in the same turn) into one `WHERE key IN (…)` query per table and
 * minimum LSN, asking for a key once however many ask: DataLoader, one per
 * (table, LSN) group, dropped when it dispatches so nothing is cached past
 * its own batch. Dispatching on setImmediate costs one event-loop hop and
 * saves a database round trip per extra key under load.
 */
export class BatchLoader {
  private readonly groups = new Map<string, DataLoader<readonly string[], LoadedRow, string>>();

  constructor(private readonly loader: RowLoader) {}

  /** The row `key` of `table`, at least as new as `minLsn`. */
  load(table: ReadTable, key: readonly string[], minLsn: LsnKey | undefined): Promise<LoadedRow> {
    const group = `${table.name}\u0000${minLsn ?? ''}`;
    let dl = this.groups.get(group);
    if (dl === undefined) {
      const mine: DataLoader<readonly string[], LoadedRow, string> = new DataLoader(
        async (keys) => {
          if (this.groups.get(group) === mine) this.groups.delete(group);
          const r = await this.loader.load(table.statements, keys, minLsn);
          return keys.map((_, i) => ({ row: r.rows[i] ?? null, lsn: r.lsn, source: r.source }));
        },
        { batchScheduleFn: (run) => setImmediate(run), maxBatchSize: MAX_BATCH, cacheKeyFn: (k) => k.join('\u0000') },
      );
      dl = mine;
      this.groups.set(group, dl);
    }
    return dl.load(key);
  }
}

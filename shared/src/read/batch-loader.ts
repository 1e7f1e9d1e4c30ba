import type { DbSource, RowLoader } from './loader.ts';
import type { LsnKey } from './cache/lsn.ts';
import type { ReadTable } from './tables.ts';

/** One row as loaded, with the stamp and source of the query that read it. */
export interface LoadedRow {
  row: string | null;
  lsn: LsnKey;
  source: DbSource;
}

interface Waiter {
  resolve(r: LoadedRow): void;
  reject(err: unknown): void;
}

interface Batch {
  table: ReadTable;
  minLsn: LsnKey | undefined;
  keys: string[][];
  /** rowId-ish key text → index in `keys` (one query per key even if asked twice). */
  index: Map<string, number>;
  waiters: Waiter[][];
}

/** Keys per query; a bigger burst becomes several queries. */
const MAX_BATCH = 500;

/**
 * Coalesces the row loads started in one turn of the event loop (the misses
 * of a multi-get, and the misses of concurrent requests whose sockets were
 * read in the same turn) into one `WHERE key IN (…)` query per table and
 * minimum LSN: DataLoader's technique. Flushing on setImmediate costs one
 * event-loop hop and saves a database round trip per extra key under load.
 */
export class BatchLoader {
  private readonly pending = new Map<string, Batch>();

  constructor(private readonly loader: RowLoader) {}

  /** The row `key` of `table`, at least as new as `minLsn`. */
  load(table: ReadTable, key: readonly string[], minLsn: LsnKey | undefined): Promise<LoadedRow> {
    const group = `${table.name}\u0000${minLsn ?? ''}`;
    let batch = this.pending.get(group);
    if (batch === undefined || batch.keys.length >= MAX_BATCH) {
      const fresh: Batch = { table, minLsn, keys: [], index: new Map(), waiters: [] };
      batch = fresh;
      this.pending.set(group, fresh);
      setImmediate(() => this.flush(group, fresh));
    }
    const id = key.join('\u0000');
    let i = batch.index.get(id);
    if (i === undefined) {
      i = batch.keys.length;
      batch.index.set(id, i);
      batch.keys.push([...key]);
      batch.waiters.push([]);
    }
    const waiters = batch.waiters[i]!;
    return new Promise<LoadedRow>((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private flush(group: string, batch: Batch): void {
    if (this.pending.get(group) === batch) this.pending.delete(group);
    this.loader.load(batch.table.statements, batch.keys, batch.minLsn).then(
      (r) => {
        for (let i = 0; i < batch.keys.length; i++) for (const w of batch.waiters[i]!) w.resolve({ row: r.rows[i] ?? null, lsn: r.lsn, source: r.source });
      },
      (err: unknown) => {
        for (const ws of batch.waiters) for (const w of ws) w.reject(err);
      },
    );
  }
}

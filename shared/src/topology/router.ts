import { CatalogError } from '../catalog/introspect.ts';
import type { Catalog } from '../catalog/types.ts';
import type { WriteOp } from '../queue/contract.ts';

/**
 * Shard-key values of rows and keys, from the catalog and the map's shard
 * keys (SLUICE_SHARD_KEYS). A sharded table's shard key must be an integer
 * column of its primary key (Citus asks the same of its distribution column):
 * then every keyed operation names its shard, and a row's key never moves it.
 */
export class ShardRouter {
  /** Sharded table → position of the shard column in its primary key. */
  private readonly position = new Map<string, { index: number; column: string }>();

  constructor(catalog: Catalog, keys: Readonly<Record<string, string>>) {
    for (const [table, column] of Object.entries(keys)) {
      const t = catalog.get(table);
      if (t === undefined) continue; // sharded but not exposed by this process: nothing to route
      const index = t.primaryKey.findIndex((c) => c.name === column);
      if (index < 0) throw new CatalogError(`SLUICE_SHARD_KEYS: ${table}.${column} must be a column of the table's primary key (so every keyed write names its shard)`);
      const kind = t.primaryKey[index]!.kind;
      if (kind !== 'int2' && kind !== 'int4' && kind !== 'int8') throw new CatalogError(`SLUICE_SHARD_KEYS: ${table}.${column} must be an integer column (it is ${t.primaryKey[index]!.type})`);
      this.position.set(table, { index, column });
    }
  }

  /** Is `table` sharded? */
  sharded(table: string): boolean {
    return this.position.has(table);
  }

  /** The shard-key column of a sharded table. */
  column(table: string): string | undefined {
    return this.position.get(table)?.column;
  }

  /**
   * The shard-key value an op writes: null for an unsharded table, undefined
   * when a sharded table's op lacks it (a 400 for the caller).
   */
  valueOf(op: WriteOp): number | null | undefined {
    const p = this.position.get(op.t);
    if (p === undefined) return null;
    const text = op.key !== undefined ? op.key[p.index] : op.row?.[p.column];
    if (text === undefined || text === null) return undefined;
    return Number(text);
  }
}

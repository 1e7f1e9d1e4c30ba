import { compileValidator, type TableValidator } from '../catalog/validate.ts';
import type { Catalog, ColumnInfo, TableInfo } from '../catalog/types.ts';
import type { Queryable } from '../db/pool.ts';
import { isCacheable } from './cache/keys.ts';
import { indexedColumns, rowStatements, type RowStatements } from './rows.ts';

/** A column a list may filter on, with the converter of its values. */
export interface FilterColumn {
  readonly col: ColumnInfo;
  /** Validates and canonicalises a filter value (a one-column "key" validator of this column). */
  readonly validator: TableValidator;
}

/** What the read path knows of one allowlisted table. */
export interface ReadTable {
  readonly name: string;
  readonly info: TableInfo;
  /** Parses URL and JSON keys exactly like the write path. */
  readonly validator: TableValidator;
  /** Rows are cached by key (keys.ts `isCacheable`). */
  readonly cacheable: boolean;
  readonly statements: RowStatements;
  /** Filterable columns by name (indexed, see rows.ts). */
  readonly filters: ReadonlyMap<string, FilterColumn>;
}

/**
 * Build the read tables of the catalog once at start: statements, key
 * validators, and (when `db` is given) the indexed columns lists may filter on.
 */
export async function prepareReadTables(catalog: Catalog, db?: Queryable): Promise<Map<string, ReadTable>> {
  const out = new Map<string, ReadTable>();
  for (const [name, info] of catalog) {
    const filters = new Map<string, FilterColumn>();
    if (db !== undefined) {
      for (const col of await indexedColumns(db, info)) filters.set(col.name, { col, validator: compileValidator({ ...info, primaryKey: [col] }) });
    }
    out.set(name, { name, info, validator: compileValidator(info), cacheable: isCacheable(info), statements: rowStatements(info), filters });
  }
  return out;
}

/**
 * The read table of a view (`info` from shared/src/views/definitions.ts
 * viewTableInfo), for the gateway's view routes and the warmer. The first
 * group column of a composite key may filter a list (the view's unique index
 * leads with it).
 */
export function viewReadTable(info: TableInfo): ReadTable {
  const filters = new Map<string, FilterColumn>();
  const first = info.primaryKey[0]!;
  if (info.primaryKey.length > 1) filters.set(first.name, { col: first, validator: compileValidator({ ...info, primaryKey: [first] }) });
  return { name: info.name, info, validator: compileValidator(info), cacheable: isCacheable(info), statements: rowStatements(info), filters };
}

import type { ColumnInfo, TableInfo } from '../catalog/types.ts';
import type { Queryable } from '../db/pool.ts';
import { fnv1a32 } from '../topology/partitions.ts';

/**
 * The read path's SQL, fixed text per table built once from the catalog
 * (identifiers quoted at introspection, values always `$n`, keys passed as
 * Postgres text and cast in SQL like the writer does), so each statement can
 * be prepared once per connection. Rows come back as the text of
 * `row_to_json(r.*)`: what the cache stores and the client receives, without
 * parsing in between.
 */

/** A named statement (node-postgres prepares it once per connection). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** The read statements of one table. */
export interface RowStatements {
  readonly table: TableInfo;
  /** `$1…$k` = key columns as text → at most one row `{ j }`. */
  readonly byKey: Statement;
  /** `$1…$k` = text arrays, one per key column → rows `{ i, j }` (i = 1-based position of the key). */
  readonly byKeys: Statement;
  /** The keyset page statement for a filter column (or none), with/without a cursor, ascending or descending. */
  list(filter: ColumnInfo | null, after: boolean, desc?: boolean): Statement;
}

const statement = (prefix: string, text: string): Statement => ({ name: `sluice_${prefix}_${fnv1a32(text).toString(36)}`, text });

const cast = (c: ColumnInfo, param: string) => `${param}::${c.castType}`;

/** Build the read statements of `table`. */
export function rowStatements(table: TableInfo): RowStatements {
  const pk = table.primaryKey;
  const json = 'row_to_json(r.*)::text AS j';
  const byKey = statement(
    'rk',
    `SELECT ${json} FROM ${table.qualified} r WHERE ${pk.map((c, i) => `r.${c.quoted} = ${cast(c, `$${i + 1}`)}`).join(' AND ')}`,
  );
  const cols = pk.map((_, i) => `k${i}`);
  const byKeys = statement(
    'rks',
    `SELECT k.ord::int AS i, ${json}
       FROM unnest(${pk.map((_, i) => `$${i + 1}::text[]`).join(', ')}) WITH ORDINALITY AS k(${cols.join(', ')}, ord)
       JOIN ${table.qualified} r ON ${pk.map((c, i) => `r.${c.quoted} = ${cast(c, `k.${cols[i]}`)}`).join(' AND ')}`,
  );
  const lists = new Map<string, Statement>();
  const list = (filter: ColumnInfo | null, after: boolean, desc = false): Statement => {
    const id = `${filter?.name ?? ''}\u0000${after}\u0000${desc}`;
    let s = lists.get(id);
    if (s === undefined) {
      s = listStatement(table, filter, after, desc);
      lists.set(id, s);
    }
    return s;
  };
  return { table, byKey, byKeys, list };
}

/**
 * Keyset pagination in primary-key order: `WHERE col = $1 AND (pk…) > (after…)
 * ORDER BY pk… LIMIT n` (descending: `<` and `ORDER BY pk… DESC`, the same
 * index scanned backwards). Parameters: the filter value (if any), the
 * cursor's key values (if any), then the limit. Returns `{ j, k0…kn }` (key
 * as text, for the next cursor).
 */
function listStatement(table: TableInfo, filter: ColumnInfo | null, after: boolean, desc: boolean): Statement {
  const pk = table.primaryKey;
  const where: string[] = [];
  let n = 0;
  if (filter !== null) where.push(`r.${filter.quoted} = ${cast(filter, `$${++n}`)}`);
  if (after) {
    const params = pk.map((c) => cast(c, `$${++n}`));
    where.push(`(${pk.map((c) => `r.${c.quoted}`).join(', ')}) ${desc ? '<' : '>'} (${params.join(', ')})`);
  }
  const keys = pk.map((c, i) => `r.${c.quoted}::text AS k${i}`).join(', ');
  const text = `SELECT row_to_json(r.*)::text AS j, ${keys} FROM ${table.qualified} r${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
 ORDER BY ${pk.map((c) => `r.${c.quoted}${desc ? ' DESC' : ''}`).join(', ')} LIMIT $${++n}`;
  return statement('rl', text);
}

const INDEXED_SQL = `
SELECT DISTINCT a.attname AS name
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE n.nspname = $1 AND c.relname = $2
   AND i.indisvalid AND i.indpred IS NULL AND i.indkey[0] <> 0
   AND am.amname IN ('btree', 'hash')`;

/**
 * Columns a list may filter on: the leading column of a valid, non-partial
 * btree or hash index (so `col = $1` is an index lookup, never a full scan).
 */
export async function indexedColumns(db: Queryable, table: TableInfo): Promise<ColumnInfo[]> {
  const { rows } = await db.query<{ name: string }>(INDEXED_SQL, [table.schema, table.table]);
  return rows.map((r) => table.byName.get(r.name)).filter((c): c is ColumnInfo => c !== undefined && c.kind !== 'json' && c.kind !== 'unsupported');
}

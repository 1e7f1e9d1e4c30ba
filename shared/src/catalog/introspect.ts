import type { Queryable } from '../db/pool.ts';
import { quoteIdent } from '../sql/ident.ts';
import type { Catalog, ColumnInfo, ColumnKind, TableInfo } from './types.ts';

const KIND_BY_TYPNAME: Record<string, ColumnKind> = {
  bool: 'bool',
  int2: 'int2',
  int4: 'int4',
  int8: 'int8',
  float4: 'float',
  float8: 'float',
  numeric: 'numeric',
  text: 'text',
  varchar: 'text',
  bpchar: 'text',
  citext: 'text',
  name: 'text',
  uuid: 'uuid',
  json: 'json',
  jsonb: 'json',
  timestamp: 'timestamp',
  timestamptz: 'timestamp',
  date: 'date',
  time: 'time',
  timetz: 'time',
  bytea: 'bytea',
};

/** Thrown at start when an allowlisted table cannot be served. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

const COLUMNS_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table,
       a.attname AS name, a.attnum AS num,
       format_type(a.atttypid, a.atttypmod) AS type,
       -- The type without its modifier, to cast a text value to. The modifier is given as -1, not NULL:
       -- with NULL, char(n) comes back as "character" and bit(n) as "bit", which SQL reads as char(1)
       -- and bit(1) (a cast cut 'abcde' to 'a'); with -1 they come back as bpchar and "bit", unbounded.
       format_type(a.atttypid, -1) AS cast_type,
       t.typname AS typname, a.attnotnull AS not_null,
       (a.atthasdef OR a.attidentity <> '') AS has_default,
       (a.attidentity = 'a' OR a.attgenerated <> '') AS generated_always,
       (a.attgenerated <> '') AS computed,
       CASE WHEN t.typname IN ('varchar','bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS max_length,
       -- int2vector arrays start at index 0: make the key position 1-based (0 = not in the key).
       coalesce((SELECT array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1
                   FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), 0) AS pk_pos
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE c.relkind IN ('r', 'p') AND n.nspname = $1 AND c.relname = $2
 ORDER BY a.attnum`;

interface ColumnRow {
  schema: string;
  table: string;
  name: string;
  type: string;
  cast_type: string;
  typname: string;
  not_null: boolean;
  has_default: boolean;
  generated_always: boolean;
  computed: boolean;
  max_length: number | null;
  pk_pos: number;
}

/** Split `schema.table` (default schema `public`). */
function splitName(entry: string): { schema: string; table: string } {
  const dot = entry.indexOf('.');
  return dot < 0 ? { schema: 'public', table: entry } : { schema: entry.slice(0, dot), table: entry.slice(dot + 1) };
}

/**
 * Read the allowlisted tables from the Postgres catalog. Every name in
 * `tables` must exist and have a primary key (keys route writes to
 * partitions and make upserts, updates and reads possible).
 */
export async function introspectCatalog(db: Queryable, tables: readonly string[]): Promise<Catalog> {
  const catalog = new Map<string, TableInfo>();
  for (const entry of tables) {
    const { schema, table } = splitName(entry);
    if (schema === 'sluice' || schema === 'pg_catalog' || schema === 'information_schema') {
      throw new CatalogError(`SLUICE_TABLES: ${entry} is a system or Sluice table and cannot be exposed`);
    }
    const { rows } = await db.query<ColumnRow>(COLUMNS_SQL, [schema, table]);
    if (rows.length === 0) throw new CatalogError(`SLUICE_TABLES: table ${entry} does not exist`);
    const columns: ColumnInfo[] = rows.map((r) => ({
      name: r.name,
      quoted: quoteIdent(r.name),
      type: r.type,
      castType: r.cast_type,
      kind: KIND_BY_TYPNAME[r.typname] ?? 'unsupported',
      notNull: r.not_null,
      hasDefault: r.has_default,
      generatedAlways: r.generated_always,
      computed: r.computed,
      ...(r.max_length != null ? { maxLength: Number(r.max_length) } : {}),
    }));
    const primaryKey = rows
      .map((r, i) => ({ pos: Number(r.pk_pos), col: columns[i]! }))
      .filter((x) => x.pos > 0)
      .sort((a, b) => a.pos - b.pos)
      .map((x) => x.col);
    if (primaryKey.length === 0) throw new CatalogError(`SLUICE_TABLES: table ${entry} has no primary key`);
    const bad = primaryKey.find((c) => c.kind === 'unsupported' || c.kind === 'json');
    if (bad) throw new CatalogError(`SLUICE_TABLES: ${entry}: primary-key column ${bad.name} has unsupported type ${bad.type}`);
    catalog.set(entry, {
      name: entry,
      schema,
      table,
      qualified: `${quoteIdent(schema)}.${quoteIdent(table)}`,
      columns,
      byName: new Map(columns.map((c) => [c.name, c])),
      primaryKey,
    });
  }
  return catalog;
}

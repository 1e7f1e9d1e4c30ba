/**
 * The table catalog: what Sluice knows of each allowlisted table, read from
 * the Postgres system catalogs at start. Validation and every SQL text are
 * derived from it; nothing a client sends is ever used as an identifier.
 */

/** How the gateway validates and encodes a JSON value for a column. */
export type ColumnKind =
  | 'bool'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float'
  | 'numeric'
  | 'text'
  | 'uuid'
  | 'json'
  | 'timestamp'
  | 'date'
  | 'time'
  | 'bytea'
  | 'unsupported';

export interface ColumnInfo {
  name: string;
  /** Identifier quoted once, safe to splice into SQL text. */
  quoted: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`. */
  type: string;
  /** Type without modifier for casts in SQL (casting to varchar(20) would silently truncate). */
  castType: string;
  kind: ColumnKind;
  notNull: boolean;
  /** Has a DEFAULT or is an identity/serial column: may be omitted on insert. */
  hasDefault: boolean;
  /** GENERATED ALWAYS (identity or stored): clients may not write it. */
  generatedAlways: boolean;
  /** A stored generated column (`GENERATED ALWAYS AS (…) STORED`): Postgres computes it, nobody writes it (a row copy leaves it out). */
  computed?: boolean;
  /** varchar(n) / char(n) length, when declared. */
  maxLength?: number;
}

export interface TableInfo {
  /** The name the API uses (as listed in SLUICE_TABLES). */
  name: string;
  schema: string;
  table: string;
  /** `"schema"."table"`, quoted once. */
  qualified: string;
  columns: readonly ColumnInfo[];
  byName: ReadonlyMap<string, ColumnInfo>;
  /** Primary-key columns in key order. Tables without a primary key are refused at start. */
  primaryKey: readonly ColumnInfo[];
}

export type Catalog = ReadonlyMap<string, TableInfo>;

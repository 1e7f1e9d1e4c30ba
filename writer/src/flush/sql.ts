import { named } from '@sluice/shared/db/pool.ts';
import type { ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { OpKind } from '@sluice/shared/queue/contract.ts';
import { copyText } from './copy.ts';

/**
 * Statement texts of the write path. Each text is fixed per (table, op,
 * column set, returning) and built only from catalog identifiers (quoted once
 * at introspection); values always travel as `$n::text[]` arrays, one array
 * per column, so a statement has as many parameters as columns (never near the
 * 65,535 limit) and one text serves every batch size: it can be a named
 * prepared statement, parsed once per connection.
 *
 * Values are Postgres text input (queue contract) and are cast in SQL to the
 * column type WITHOUT its modifier (`castType`): `'abcd'::varchar(3)` would
 * silently truncate, while assigning a `varchar` to a `varchar(3)` column
 * raises 22001, which poison isolation needs.
 *
 * With `rows` (SLUICE_CACHE_WRITE_THROUGH=values; upserts, updates and
 * deletes, see `StatementCache.returnsRows`) a statement also returns each
 * affected row for the cache: its key as `col::text` (`c0…`,
 * the text the cache keys on) and `row_to_json(t.*)::text AS r` (what the
 * read path caches), NULL for a delete (a tombstone).
 *
 * With `repr` (a request of the group asked for its rows: `Prefer:
 * return=representation`) it also returns `row_to_json(t.*)::text AS j` of
 * each row written, or removed by a delete. Only such groups pay for it.
 */

/** What the statement returns, and how `apply.ts` maps the rows back to ops. */
export type Returning =
  /** nothing; affected counts come from rowCount */
  | 'none'
  /** primary-key columns as `k0…`, one row per input row, in input order (insert, upsert DO UPDATE) */
  | 'keys'
  /** `k0…` and their text form `t0…` for matching (upsert DO NOTHING skips conflicting rows) */
  | 'keys-text'
  /** the 1-based input position `i` of each affected row (update, delete) */
  | 'ordinal';

/** A ready statement: text, and a prepared-statement name when the cache still had room. */
export interface Statement {
  name: string | undefined;
  text: string;
  returning: Returning;
  /** It also returns `c0…` and `r` per affected row (see the module comment). */
  rows: boolean;
  /** It also returns `j` per affected row: the row for the client (see the module comment). */
  repr: boolean;
}

const arrays = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${from + i}::text[]`).join(', ');
const aliases = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** `RETURNING` list of primary-key columns (`t.pk AS k0`, optionally `t.pk::text AS t0`). */
function returningKeys(table: TableInfo, withText: boolean): string[] {
  const cols = table.primaryKey.map((c, i) => `t.${c.quoted} AS k${i}`);
  if (withText) cols.push(...table.primaryKey.map((c, i) => `t.${c.quoted}::text AS t${i}`));
  return cols;
}

/** The cache's columns: key text `c0…` and the row's JSON `r` (NULL: deleted). */
function returningRows(table: TableInfo, deleted: boolean): string[] {
  return [...table.primaryKey.map((c, i) => `t.${c.quoted}::text AS c${i}`), deleted ? 'NULL::text AS r' : 'row_to_json(t.*)::text AS r'];
}

/** What a statement returns beyond its `Returning` columns. */
function extras(table: TableInfo, rows: boolean, repr: boolean, deleted: boolean): string[] {
  return [...(rows ? returningRows(table, deleted) : []), ...(repr ? ['row_to_json(t.*)::text AS j'] : [])];
}

const returningClause = (cols: string[]) => (cols.length > 0 ? ` RETURNING ${cols.join(', ')}` : '');

/** What an insert does on a key that exists: fail (plain insert), update the given columns (upsert), or skip the row. */
type OnConflict = 'error' | 'update' | 'skip';

/**
 * INSERT (and upsert) from one text array per column. With no columns at all
 * (every column defaulted) one placeholder array carries the row count.
 */
function insertText(table: TableInfo, columns: readonly ColumnInfo[], conflict: OnConflict, returning: Returning, rows: boolean, repr: boolean, fixed?: ColumnInfo): string {
  let text: string;
  if (columns.length === 0) {
    text = `INSERT INTO ${table.qualified} AS t SELECT FROM unnest($1::text[]) AS u(a0)`;
  } else {
    const a = aliases('a', columns.length);
    const exprs = columns.map((c, i) => `u.${a[i]}::${c.castType}`).join(', ');
    text = `INSERT INTO ${table.qualified} AS t (${columns.map((c) => c.quoted).join(', ')}) SELECT ${exprs} FROM unnest(${arrays(columns.length)}) AS u(${a.join(', ')})`;
  }
  if (conflict !== 'error') {
    const pk = new Set(table.primaryKey.map((c) => c.name));
    const set = conflict === 'skip' ? [] : columns.filter((c) => !pk.has(c.name));
    const target = table.primaryKey.map((c) => c.quoted).join(', ');
    text += set.length === 0
      ? ` ON CONFLICT (${target}) DO NOTHING`
      : ` ON CONFLICT (${target}) DO UPDATE SET ${set.map((c) => `${c.quoted} = EXCLUDED.${c.quoted}`).join(', ')}` +
        // A shard key never changes: the existing row is updated only if it holds the same value.
        (fixed !== undefined ? ` WHERE t.${fixed.quoted} = EXCLUDED.${fixed.quoted}` : '');
  }
  const cols = returning === 'keys' || returning === 'keys-text' ? returningKeys(table, returning === 'keys-text') : [];
  return text + returningClause([...cols, ...extras(table, rows, repr, false)]);
}

/** `t.pk1 = v.k0::type AND …`: the join of input keys to the table. */
function keyMatch(table: TableInfo): string {
  return table.primaryKey.map((c, i) => `t.${c.quoted} = v.k${i}::${c.castType}`).join(' AND ');
}

/**
 * UPDATE … FROM unnest(keys…, values…) WITH ORDINALITY. The ordinality lets
 * RETURNING name the input row that matched (a FROM item may be referenced in
 * RETURNING), which is exact whatever text form the key was sent in.
 */
function updateText(table: TableInfo, columns: readonly ColumnInfo[], returning: Returning, rows: boolean, repr: boolean, fixed?: ColumnInfo): string {
  const k = aliases('k', table.primaryKey.length);
  const a = aliases('a', columns.length);
  const set = columns.map((c, i) => `${c.quoted} = v.${a[i]}::${c.castType}`).join(', ');
  // A shard key never changes: the patch names it, and only a row holding that value matches.
  const f = fixed === undefined ? -1 : columns.findIndex((c) => c.name === fixed.name);
  const pin = f < 0 ? '' : ` AND t.${fixed!.quoted} = v.${a[f]}::${fixed!.castType}`;
  const text = `UPDATE ${table.qualified} AS t SET ${set} FROM unnest(${arrays(k.length + a.length)}) WITH ORDINALITY AS v(${[...k, ...a, 'i'].join(', ')}) WHERE ${keyMatch(table)}${pin}`;
  const cols = returning === 'ordinal' ? ['v.i AS i'] : [];
  return text + returningClause([...cols, ...extras(table, rows, repr, false)]);
}

/**
 * DELETE … USING unnest(keys…) WITH ORDINALITY: one form for single and
 * composite keys; RETURNING names the input rows that matched (see update).
 */
function deleteText(table: TableInfo, returning: Returning, rows: boolean, repr: boolean): string {
  const k = aliases('k', table.primaryKey.length);
  const text = `DELETE FROM ${table.qualified} AS t USING unnest(${arrays(k.length)}) WITH ORDINALITY AS v(${[...k, 'i'].join(', ')}) WHERE ${keyMatch(table)}`;
  const cols = returning === 'ordinal' ? ['v.i AS i'] : [];
  return text + returningClause([...cols, ...extras(table, rows, repr, true)]);
}

/**
 * What a group must return: keys for requests that asked `ret`; for counts
 * (requests waiting for a `committed` ack), only where rowCount cannot say
 * which input rows were affected; with `rows`, whatever maps each returned
 * row to its request (so rows of requests rolled back by poison isolation
 * never reach the cache).
 */
export function returningFor(op: OpKind, columns: readonly ColumnInfo[], table: TableInfo, needKeys: boolean, needCounts: boolean, rows = false): Returning {
  switch (op) {
    case 'insert':
      return needKeys || rows ? 'keys' : 'none';
    case 'insert-ignore':
      return needKeys || needCounts || rows ? 'keys-text' : 'none';
    case 'upsert': {
      const pk = new Set(table.primaryKey.map((c) => c.name));
      const doNothing = columns.every((c) => pk.has(c.name));
      if (doNothing) return needKeys || needCounts || rows ? 'keys-text' : 'none';
      return needKeys || rows ? 'keys' : 'none';
    }
    case 'update':
    case 'delete':
      return needCounts || rows ? 'ordinal' : 'none';
  }
}

/**
 * Build the text of one statement. `fixed`: the table's shard key when it is
 * not part of the primary key (an update or upsert never changes it).
 */
export function statementText(table: TableInfo, op: OpKind, columns: readonly ColumnInfo[], returning: Returning, rows = false, repr = false, fixed?: ColumnInfo): string {
  switch (op) {
    case 'insert':
      return insertText(table, columns, 'error', returning, rows, repr);
    case 'insert-ignore':
      return insertText(table, columns, 'skip', returning, rows, repr);
    case 'upsert':
      return insertText(table, columns, 'update', returning, rows, repr, fixed);
    case 'update':
      return updateText(table, columns, returning, rows, repr, fixed);
    case 'delete':
      return deleteText(table, returning, rows, repr);
  }
}

/** Options of a StatementCache. */
export interface StatementCacheOptions {
  /** Statements also return the rows they wrote, for the cache (SLUICE_CACHE_WRITE_THROUGH=values). */
  returnRows?: boolean;
  /** Texts given a prepared-statement name; later ones run unnamed. */
  maxNamed?: number;
  /** Texts kept at all. */
  maxCached?: number;
  /** Sharded table → its shard-key column (SLUICE_SHARD_KEYS): never changed by an update or upsert. */
  shardKeys?: Readonly<Record<string, string>>;
  /** SLUICE_COPY_MIN_ROWS: plain inserts returning nothing go in by COPY from this many rows (0: never; see copy.ts). */
  copyMinRows?: number;
}

/**
 * Statement texts, built once and named for preparation. Column subsets are
 * client-chosen, so the number of distinct texts is bounded only by the
 * schema; past `maxNamed` texts new ones run unnamed (parsed each time)
 * rather than piling up prepared statements on every connection.
 */
export class StatementCache {
  readonly returnRows: boolean;
  /** See `StatementCacheOptions.copyMinRows`. */
  readonly copyMinRows: number;
  private readonly maxNamed: number;
  private readonly maxCached: number;
  private readonly byKey = new Map<string, Statement>();
  private named = 0;

  constructor(o: StatementCacheOptions = {}) {
    this.returnRows = o.returnRows ?? false;
    this.maxNamed = o.maxNamed ?? 512;
    this.maxCached = o.maxCached ?? 8 * this.maxNamed;
    this.shardKeys = o.shardKeys ?? {};
    this.copyMinRows = o.copyMinRows ?? 0;
  }

  private readonly copies = new Map<string, string>();

  /** `COPY … FROM STDIN` text of (table, columns), kept like the statements (see copy.ts). */
  copyText(table: TableInfo, columns: readonly ColumnInfo[]): string {
    const key = `${table.name}\u0000${columns.map((c) => c.name).join('\u0001')}`;
    let text = this.copies.get(key);
    if (text === undefined) {
      text = copyText(table.qualified, columns);
      if (this.copies.size < this.maxCached) this.copies.set(key, text);
    }
    return text;
  }

  private readonly shardKeys: Readonly<Record<string, string>>;

  /** The shard key of `table` when it is not part of the primary key (a key match already pins it otherwise). */
  private fixedColumn(table: TableInfo): ColumnInfo | undefined {
    const name = this.shardKeys[table.name];
    if (name === undefined || table.primaryKey.some((c) => c.name === name)) return undefined;
    return table.byName.get(name);
  }

  /**
   * Whether statements of `op` return rows for the cache: with `returnRows`,
   * every op but a plain insert. A plain insert makes a new key, with nothing
   * cached but perhaps a "no such row" entry, which a fence clears for the
   * price of one read; returning and storing every inserted row would cost a
   * bulk load about 45 % of its throughput (README, benchmarks).
   */
  returnsRows(op: OpKind): boolean {
    return this.returnRows && op !== 'insert';
  }

  /** The statement for (table, op, columns, returning, repr); rows returned per `returnsRows`. */
  get(table: TableInfo, op: OpKind, columns: readonly ColumnInfo[], returning: Returning, repr = false): Statement {
    const key = `${table.name}\u0000${op}\u0000${columns.map((c) => c.name).join('\u0001')}\u0000${returning}${repr ? '\u0000j' : ''}`;
    const cached = this.byKey.get(key);
    if (cached) return cached;
    const rows = this.returnsRows(op);
    const text = statementText(table, op, columns, returning, rows, repr, this.fixedColumn(table));
    // Bounded memory: past maxCached shapes, texts are built per use and not kept.
    if (this.byKey.size >= this.maxCached) return { name: undefined, text, returning, rows, repr };
    // The name is a digest of the text: one name always means one text, on every connection.
    const name = this.named < this.maxNamed ? named(text).name : undefined;
    if (name) this.named++;
    const s: Statement = { name, text, returning, rows, repr };
    this.byKey.set(key, s);
    return s;
  }
}

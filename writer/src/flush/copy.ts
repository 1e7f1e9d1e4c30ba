import { finished } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { PoolClient } from '@sluice/shared/db/pool.ts';
import type { ColumnInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';

/**
 * Plain inserts that return nothing (no generated keys, no representation,
 * no rows for the cache: `queued` writes) go in with `COPY … FROM STDIN`
 * instead of `INSERT … SELECT FROM unnest(…)`, on the batch's own connection
 * inside its transaction, so exactly-once (the job claim), fencing and
 * poison bisection (savepoints) are unchanged.
 *
 * Why: per row, the unnest form makes the writer encode every value into an
 * array literal (pg's `arrayString`: quoting and a regex per element) and
 * Postgres parse those literals back (`array_in`), then cast each element and
 * insert row by row with a WAL record per row. COPY's text format is one
 * escape pass here, a line split there, and Postgres buffers rows into
 * multi-inserts (one WAL record per page of rows).
 *
 * Same semantics: values are the Postgres text input the queue contract
 * carries; COPY feeds them to the column type's input function WITH its
 * modifier, which raises 22001 for an over-long varchar just as the unnest
 * form's assignment does (neither truncates), and applies defaults to the
 * columns not listed. Differences: COPY does not fire RULEs (Sluice writes
 * only to tables, and a table with an INSERT rule should set
 * SLUICE_COPY_MIN_ROWS=0); triggers fire as for INSERT.
 */

/** Whether a row group goes in by COPY: a plain insert, returning nothing, of at least `minRows` rows, writing only ordinary columns. */
export function copyable(minRows: number, columns: readonly ColumnInfo[], rows: number): boolean {
  return minRows > 0 && rows >= minRows && columns.length > 0 && columns.every((c) => !c.generatedAlways && c.computed !== true);
}

/** `COPY "s"."t" ("a", "b") FROM STDIN`: text format, `\N` for NULL. */
export function copyText(qualified: string, columns: readonly ColumnInfo[]): string {
  return `COPY ${qualified} (${columns.map((c) => c.quoted).join(', ')}) FROM STDIN`;
}

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One value in COPY text format (PostgreSQL docs, COPY "Text Format"): backslash, tab, newline, CR escaped. */
function field(v: string | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  return SPECIAL.test(v) ? v.replace(SPECIAL_ALL, (ch) => ESCAPES[ch]!) : v;
}

/** The COPY data of `ops` (rows in order, columns in `columns` order). */
export function copyData(columns: readonly ColumnInfo[], ops: readonly WriteOp[]): string {
  let out = '';
  const names = columns.map((c) => c.name);
  for (const op of ops) {
    const row = op.row!;
    for (let i = 0; i < names.length; i++) out += (i === 0 ? '' : '\t') + field(row[names[i]!]);
    out += '\n';
  }
  return out;
}

/**
 * Run one COPY of `ops` on `client` and resolve with the rows it inserted.
 * A database error (a poison row: 22xxx, 23xxx) rejects with pg's
 * DatabaseError, as a query would; so does pg's query read timeout.
 */
export async function copyRows(client: PoolClient, text: string, columns: readonly ColumnInfo[], ops: readonly WriteOp[]): Promise<number> {
  const stream = client.query(copyFrom(text));
  stream.end(copyData(columns, ops));
  await finished(stream);
  return stream.rowCount;
}

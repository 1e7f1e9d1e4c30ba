import type { WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import type { Catalog, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { PoolClient } from '@sluice/shared/db/pool.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import { copyable, copyRows } from './copy.ts';
import { planStatements, type StatementGroup } from './plan.ts';
import { returningFor, type StatementCache, type Statement } from './sql.ts';
import type { RequestResult } from './types.ts';

/**
 * Run the planned statements of some requests on one connection, inside the
 * caller's transaction, and map what the statements returned back to the
 * requests: rows affected per op, generated keys per op.
 */

/** Results aligned with the requests given, and the rows the statements affected. */
export interface Applied {
  results: RequestResult[];
  rows: number;
}

type Row = Record<string, unknown>;

/** Column-major text arrays for one group: one array per `$n`. */
function paramsOf(g: StatementGroup, reqs: readonly WriteRequest[]): (string | null)[][] {
  const ops = g.rows.map((r) => reqs[r.req]!.ops[r.op]!);
  const keyArrays = () => g.table.primaryKey.map((_, i) => ops.map((op) => op.key![i]!));
  const colArrays = () => g.columns.map((c) => ops.map((op) => op.row![c.name] ?? null));
  switch (g.op) {
    case 'insert':
    case 'insert-ignore':
    case 'upsert':
      // No columns at all: one placeholder array whose length is the row count.
      return g.columns.length === 0 ? [ops.map(() => '')] : colArrays();
    case 'update':
      return [...keyArrays(), ...colArrays()];
    case 'delete':
      return keyArrays();
  }
}

function keysOf(table: TableInfo, row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  table.primaryKey.forEach((c, i) => (out[c.name] = row[`k${i}`]));
  return out;
}

/** The cache's view of a returned row (`c0…`, `r`: see sql.ts). */
function cacheRowOf(table: TableInfo, row: Row): WriteThroughRow {
  return { table: table.name, key: table.primaryKey.map((_, i) => String(row[`c${i}`])), row: (row['r'] as string | null) ?? null };
}

/** Record per-row results of one statement into `results`. */
function mapRows(g: StatementGroup, s: Statement, rows: Row[], rowCount: number, reqs: readonly WriteRequest[], results: RequestResult[]): void {
  const set = (j: number, n: number, keys: Record<string, unknown> | null, returned?: Row) => {
    const { req, op } = g.rows[j]!;
    const r = results[req]!;
    r.n[op] = n;
    if (r.keys && keys) r.keys[op] = keys;
    if (s.rows && returned) (r.cache ??= []).push(cacheRowOf(g.table, returned));
    if (s.repr && r.rows && returned) r.rows[op] = (returned['j'] as string | null) ?? null;
  };
  switch (s.returning) {
    case 'none': {
      // Insert and upsert DO UPDATE affect every input row; update/delete counts are only exact in bulk.
      const each = g.op === 'insert' || g.op === 'upsert' || rowCount === g.rows.length ? 1 : 0;
      for (let j = 0; j < g.rows.length; j++) set(j, each, null);
      return;
    }
    case 'keys': {
      // INSERT … SELECT FROM unnest returns its rows in input order in practice (the
      // executor inserts and projects RETURNING row by row, in scan order); Postgres
      // does not promise it in writing. A BEFORE trigger returning NULL drops a row
      // and the counts differ: keys are then left unknown rather than misassigned.
      const aligned = rows.length === g.rows.length;
      for (let j = 0; j < g.rows.length; j++) set(j, 1, aligned ? keysOf(g.table, rows[j]!) : null, aligned ? rows[j] : undefined);
      return;
    }
    case 'keys-text': {
      // Upsert DO NOTHING (and insert-ignore) returns only the rows it inserted: match them by key text.
      const byText = new Map(rows.map((r) => [g.table.primaryKey.map((_, i) => String(r[`t${i}`])).join('\u0001'), r]));
      for (let j = 0; j < g.rows.length; j++) {
        const { req, op } = g.rows[j]!;
        const row = reqs[req]!.ops[op]!.row ?? {};
        const hit = byText.get(g.table.primaryKey.map((c) => row[c.name]).join('\u0001'));
        set(j, hit ? 1 : 0, hit ? keysOf(g.table, hit) : null, hit);
      }
      return;
    }
    case 'ordinal': {
      for (let j = 0; j < g.rows.length; j++) set(j, 0, null);
      for (const r of rows) set(Number(r['i']) - 1, 1, null, r);
      return;
    }
  }
}

/**
 * Plan `reqs` (in order) and run the statements. Throws the first database
 * error as is (the caller classifies it; a poison error makes it bisect).
 */
export async function applyRequests(db: PoolClient, catalog: Catalog, cache: StatementCache, reqs: readonly WriteRequest[]): Promise<Applied> {
  const results: RequestResult[] = reqs.map((r) => ({
    n: new Array<number>(r.ops.length).fill(0),
    ...(r.ret ? { keys: new Array<Record<string, unknown> | null>(r.ops.length).fill(null) } : {}),
    ...(r.rows ? { rows: new Array<string | null>(r.ops.length).fill(null) } : {}),
  }));
  let rows = 0;
  for (const g of planStatements(catalog, reqs)) {
    // Representations are mapped back to their ops like keys (inserts) and counts (the rest).
    const repr = g.rows.some((r) => reqs[r.req]!.rows === true);
    const needKeys = repr || g.rows.some((r) => reqs[r.req]!.ret === true);
    const needCounts = repr || g.rows.some((r) => reqs[r.req]!.ack !== undefined);
    const s = cache.get(g.table, g.op, g.columns, returningFor(g.op, g.columns, g.table, needKeys, needCounts, cache.returnsRows(g.op)), repr);
    if (g.op === 'insert' && s.returning === 'none' && !s.rows && !s.repr && copyable(cache.copyMinRows, g.columns, g.rows.length)) {
      const n = await copyRows(db, cache.copyText(g.table, g.columns), g.columns, g.rows.map((r) => reqs[r.req]!.ops[r.op]!));
      rows += n;
      mapRows(g, s, [], n, reqs, results);
      continue;
    }
    const res = await db.query<Row>(s.name ? { name: s.name, text: s.text, values: paramsOf(g, reqs) } : { text: s.text, values: paramsOf(g, reqs) });
    rows += res.rowCount ?? 0;
    mapRows(g, s, res.rows, res.rowCount ?? 0, reqs, results);
  }
  return { results, rows };
}

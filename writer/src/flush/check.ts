import type { Catalog, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteOp, WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { Rejection } from './types.ts';

/**
 * The writer's own check of a request against ITS catalog before any SQL is
 * built. The gateway validated the request already; a failure here means the
 * two disagree (a rolling deploy with another SLUICE_TABLES, a column dropped
 * since the gateway started). Such a request is dead-lettered with the
 * SQLSTATE Postgres itself would have raised, so it can be replayed once the
 * configuration is fixed; nothing unknown is ever spliced into SQL.
 */

const KINDS = new Set(['insert', 'insert-ignore', 'upsert', 'update', 'delete']);

const reject = (sqlstate: string, message: string, extra: Partial<Rejection> = {}): Rejection => ({ sqlstate, message, ...extra });

function isTextRecord(v: unknown): v is Record<string, string | null> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  for (const x of Object.values(v)) if (x !== null && typeof x !== 'string') return false;
  return true;
}

function checkKey(table: TableInfo, key: unknown): Rejection | null {
  if (!Array.isArray(key) || key.length !== table.primaryKey.length || key.some((k) => typeof k !== 'string')) {
    // 22023 invalid_parameter_value: the op does not name one row.
    return reject('22023', `key must be ${table.primaryKey.length} text value(s) for ${table.name}`, { table: table.name });
  }
  return null;
}

function checkRow(table: TableInfo, row: unknown, needColumns: boolean): Rejection | null {
  if (!isTextRecord(row)) return reject('22023', `row must map column names to text or null`, { table: table.name });
  const names = Object.keys(row);
  if (needColumns && names.length === 0) return reject('22023', 'update sets no column', { table: table.name });
  for (const n of names) {
    // 42703 undefined_column, as Postgres would report it.
    if (!table.byName.has(n)) return reject('42703', `column "${n}" of relation "${table.name}" is not known to this writer`, { table: table.name, column: n });
  }
  return null;
}

function checkOp(catalog: Catalog, op: WriteOp): Rejection | null {
  const table = catalog.get(op?.t);
  // 42P01 undefined_table: not in this writer's SLUICE_TABLES.
  if (!table) return reject('42P01', `relation "${String(op?.t)}" is not served by this writer (SLUICE_TABLES)`);
  if (!KINDS.has(op.op)) return reject('22023', `unknown op "${String(op.op)}"`, { table: table.name });
  switch (op.op) {
    case 'insert':
    case 'insert-ignore':
    case 'upsert':
      return checkRow(table, op.row ?? null, false);
    case 'update':
      return checkKey(table, op.key) ?? checkRow(table, op.row ?? null, true);
    case 'delete':
      return checkKey(table, op.key);
  }
}

/** Null when the request can be planned, else why it cannot. */
export function checkRequest(catalog: Catalog, req: WriteRequest): Rejection | null {
  if (!Array.isArray(req.ops)) return reject('22023', 'request has no ops');
  for (const op of req.ops) {
    const r = checkOp(catalog, op);
    if (r) return r;
  }
  return null;
}

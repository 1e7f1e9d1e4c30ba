import type { MiddlewareHandler } from 'hono';
import { ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { TableValidator, TextRow } from '@sluice/shared/catalog/validate.ts';
import type { OpKind, WriteOp } from '@sluice/shared/queue/contract.ts';
import { type Ctx, type GatewayEnv } from '../../context.ts';
import type { WriteService } from '../../enqueue/service.ts';
import { checkRowCount, throwIfInvalid } from '../respond.ts';
import { idempotencyOf } from '../write-headers.ts';
import { exposedTable, keyFromUrl } from './guards.ts';
import { keysOfFilter } from './query.ts';
import { withShardKeyParam } from './shard-key.ts';
import { notOneRow, type Shape } from './representation.ts';
import { ackFor, answerWrite, checkOnConflict, writePrefs, writeShape, type WritePrefs } from './write-prefer.ts';

/** What the write routes need. */
export interface WriteRouteDeps {
  service: WriteService;
  /** Compiled validators by API table name: the allowlist. */
  validators: ReadonlyMap<string, TableValidator>;
  /** SLUICE_MAX_ROWS_PER_REQUEST */
  maxRows: number;
  /** The JSON body middleware (415/413/400). */
  body: MiddlewareHandler<GatewayEnv>;
  /** Sharded table → its shard-key column (the shard map's). */
  shardKeys: Readonly<Record<string, string>>;
}

/** `{table}` must be exposed and writable by the caller; checked before the body is read. */
export function writableTable(validators: ReadonlyMap<string, TableValidator>): MiddlewareHandler<GatewayEnv> {
  return async function writableTable(c, next) {
    c.set('table', exposedTable(c, validators, 'write'));
    return next();
  };
}

/** `.single()` on a write that cannot yield exactly one row: refused before anything is queued. */
function checkSingle(shape: Shape, ops: number): void {
  if (shape.single && ops !== 1) throw notOneRow(ops);
}

/**
 * PostgREST's `columns=` (postgrest-js sends the union of the rows' keys):
 * only those columns are taken from each row; a name that is no column is a 400.
 */
function onlyColumns(v: TableValidator, body: unknown, raw: string | null): unknown {
  if (raw === null || !Array.isArray(body)) return body;
  const names = new Set(raw.split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1')));
  for (const n of names) if (!v.table.byName.has(n)) throw new ValidationError(`columns: ${JSON.stringify(n.slice(0, 100))} is not a column of ${v.table.name}`);
  return body.map((row: unknown) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row) || Object.keys(row).every((k) => names.has(k))) return row;
    return Object.fromEntries(Object.entries(row).filter(([k]) => names.has(k)));
  });
}

/** What a POST does with its rows, from `Prefer: resolution=…`. */
function postOp(prefs: WritePrefs): OpKind {
  if (prefs.resolution === 'merge-duplicates') return 'upsert';
  return prefs.resolution === 'ignore-duplicates' ? 'insert-ignore' : 'insert';
}

/**
 * POST /v1/tables/{table}: one row or an array of rows. `Prefer:
 * resolution=merge-duplicates` upserts on the primary key, `ignore-duplicates`
 * skips rows whose key exists (both need every key column); `return=…`,
 * `select=`, `columns=`, `on_conflict=` as PostgREST takes them.
 */
export function postRows(d: WriteRouteDeps) {
  return async function postRows(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const url = new URL(c.req.url);
    const prefs = writePrefs(c);
    const op = postOp(prefs);
    checkOnConflict(v, url.searchParams.get('on_conflict'));
    const shape = writeShape(c, v, url, prefs);
    const body = onlyColumns(v, c.get('body'), url.searchParams.get('columns'));
    const many = Array.isArray(body);
    const rows: unknown[] = many ? body : [body];
    if (rows.length === 0) throw new ValidationError('the body is an empty array: send at least one row');
    checkRowCount(rows.length, d.maxRows);
    checkSingle(shape, rows.length);
    const errors: FieldError[] = [];
    const ops: WriteOp[] = [];
    for (let i = 0; i < rows.length; i++) {
      const at = many ? `/${i}` : '';
      // An upsert or an insert-ignore needs the key: it is what a conflict is found on.
      const row = op === 'insert' ? v.insert(rows[i], at, errors) : v.upsert(rows[i], at, errors);
      if (row === null) continue;
      ops.push({ t: v.table.name, op, row });
    }
    throwIfInvalid(errors);
    const ack = ackFor(c, prefs);
    const rep = prefs.ret === 'representation';
    const result = await d.service.submit({ ops, ack, ret: ack !== 'queued', rows: rep, idem: idempotencyOf(c, op, body), committedStatus: 201, owner: c.get('principal').id });
    return answerWrite(c, result, prefs, shape, true);
  };
}

/** Updates of `keys` with the same changes; the changes are validated against each key (key columns may only repeat it). */
function updateOps(v: TableValidator, keys: readonly string[][], body: unknown): WriteOp[] {
  const errors: FieldError[] = [];
  const ops: WriteOp[] = [];
  for (const key of keys) {
    const row: TextRow | null = v.update(body, '', errors, key);
    if (row === null) break; // the same body fails the same way for every key: report it once
    ops.push({ t: v.table.name, op: 'update', key, row });
  }
  throwIfInvalid(errors);
  return ops;
}

/** Enqueue updates or deletes of rows by key (with the shard key of `?<column>=eq.` when the key lacks it), and answer as the preferences ask. */
async function writeByKeys(c: Ctx, d: WriteRouteDeps, keyed: WriteOp[], hashed: unknown): Promise<Response> {
  const v = c.get('table');
  const prefs = writePrefs(c);
  const shape = writeShape(c, v, new URL(c.req.url), prefs);
  checkSingle(shape, keyed.length);
  const ack = ackFor(c, prefs);
  const column = d.shardKeys[v.table.name];
  const ops = column === undefined ? keyed : keyed.map((op) => withShardKeyParam(c, v.table, column, op));
  const result = await d.service.submit({ ops, ack, ret: false, rows: prefs.ret === 'representation', idem: idempotencyOf(c, ops[0]!.op, hashed), committedStatus: 200, owner: c.get('principal').id });
  return answerWrite(c, result, prefs, shape, false);
}

/** PATCH /v1/tables/{table}/{key}: set the given columns of one row. */
export function patchRow(d: WriteRouteDeps) {
  return async function patchRow(c: Ctx): Promise<Response> {
    const body = c.get('body');
    return writeByKeys(c, d, updateOps(c.get('table'), [keyFromUrl(c, c.get('table'))], body), body);
  };
}

/** DELETE /v1/tables/{table}/{key}: delete one row (no body). */
export function deleteRow(d: WriteRouteDeps) {
  return async function deleteRow(c: Ctx): Promise<Response> {
    const v = c.get('table');
    return writeByKeys(c, d, [{ t: v.table.name, op: 'delete', key: keyFromUrl(c, v) }], undefined);
  };
}

/** PATCH /v1/tables/{table}?<key>=eq.…|in.(…): PostgREST's update by filter, for filters on the key. */
export function patchRows(d: WriteRouteDeps) {
  return async function patchRows(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const keys = keysOfFilter(v, new URL(c.req.url), d.shardKeys[v.table.name]);
    checkRowCount(keys.length, d.maxRows);
    const body = c.get('body');
    return writeByKeys(c, d, updateOps(v, keys, body), { keys, changes: body });
  };
}

/** DELETE /v1/tables/{table}?<key>=eq.…|in.(…): PostgREST's delete by filter, for filters on the key. */
export function deleteRows(d: WriteRouteDeps) {
  return async function deleteRows(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const keys = keysOfFilter(v, new URL(c.req.url), d.shardKeys[v.table.name]);
    checkRowCount(keys.length, d.maxRows);
    return writeByKeys(c, d, keys.map((key) => ({ t: v.table.name, op: 'delete', key })), { keys });
  };
}

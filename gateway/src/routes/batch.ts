import type { Hono } from 'hono';
import { ForbiddenError, ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import { pointerToken, type TableValidator } from '@sluice/shared/catalog/validate.ts';
import { type OpKind, type WriteOp } from '@sluice/shared/queue/contract.ts';
import type { Ctx, GatewayEnv } from '../context.ts';
import { checkRowCount, sendResult, throwIfInvalid } from './respond.ts';
import { shardKeyText } from './tables/shard-key.ts';
import type { WriteRouteDeps } from './tables/write.ts';
import { ackModeOf, idempotencyOf } from './write-headers.ts';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Members each op kind accepts; anything else is probably a typo and is reported. */
// A Map, not an object: `"op": "constructor"` must not find Object.prototype.constructor.
const MEMBERS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['insert', new Set(['table', 'op', 'row'])],
  ['upsert', new Set(['table', 'op', 'row'])],
  ['update', new Set(['table', 'op', 'row', 'key'])],
  ['delete', new Set(['table', 'op', 'key', 'row'])],
]);

/** The ops array of `{"ops":[…]}`, or a 400. */
function opsOf(body: unknown, maxRows: number): unknown[] {
  if (!isObject(body) || !Array.isArray(body.ops)) {
    throw new ValidationError('the body must be {"ops":[{"table","op","row"|"key"}…]}', [{ pointer: '/ops', detail: 'expected an array of operations' }]);
  }
  if (body.ops.length === 0) throw new ValidationError('ops is empty: send at least one operation', [{ pointer: '/ops', detail: 'empty' }]);
  checkRowCount(body.ops.length, maxRows);
  return body.ops;
}

/** 403 naming every exposed table of the batch the caller may not write; before validation, so no detail leaks to them. */
function checkScopes(c: Ctx, ops: unknown[], validators: ReadonlyMap<string, TableValidator>): void {
  const principal = c.get('principal');
  const denied = new Set<string>();
  for (const op of ops) {
    const t = isObject(op) ? op.table : undefined;
    if (typeof t === 'string' && validators.has(t) && !principal.canWrite(t)) denied.add(t);
  }
  if (denied.size > 0) throw new ForbiddenError(`this API key lacks ${[...denied].map((t) => `write:${t}`).join(', ')}`);
}

/** The key of an update: `key` if given, else the key columns inside `row`. */
function updateKey(v: TableValidator, op: Json, at: string, errors: FieldError[]): string[] | null {
  if (op.key !== undefined) return v.keyFromJson(op.key, `${at}/key`, errors);
  if (!isObject(op.row)) return null; // update() reports the bad row
  const key: Json = {};
  for (const col of v.table.primaryKey) key[col.name] = op.row[col.name];
  return v.keyFromJson(key, `${at}/row`, errors);
}

/** The `row` of a delete: only a sharded table's shard key, when its primary key lacks it (tables/shard-key.ts). */
function deleteRow(v: TableValidator, raw: unknown, column: string | undefined, at: string, errors: FieldError[]): Record<string, string> | null {
  const names = isObject(raw) ? Object.keys(raw) : [];
  if (column === undefined || v.table.primaryKey.some((c) => c.name === column) || names.length !== 1 || names[0] !== column) {
    errors.push({ pointer: at, detail: column === undefined ? 'not used by delete' : `a delete's row holds only the shard key ${column}` });
    return null;
  }
  try {
    return { [column]: shardKeyText(v.table, column, (raw as Json)[column], `${at}/${pointerToken(column)}`) };
  } catch (err) {
    errors.push(...((err as ValidationError).errors ?? []));
    return null;
  }
}

/** One batch op → WriteOp (null when invalid; errors collected). */
function toWriteOp(op: unknown, at: string, validators: ReadonlyMap<string, TableValidator>, shardKeys: Readonly<Record<string, string>>, errors: FieldError[]): WriteOp | null {
  if (!isObject(op)) {
    errors.push({ pointer: at, detail: 'an operation must be an object {"table","op","row"|"key"}' });
    return null;
  }
  const v = typeof op.table === 'string' ? validators.get(op.table) : undefined;
  if (v === undefined) {
    errors.push({ pointer: `${at}/table`, detail: 'unknown table' });
    return null;
  }
  const kind = op.op as OpKind;
  const members = typeof op.op === 'string' ? MEMBERS.get(op.op) : undefined;
  if (members === undefined) {
    errors.push({ pointer: `${at}/op`, detail: 'op must be insert, upsert, update or delete' });
    return null;
  }
  for (const m in op) if (!members.has(m)) errors.push({ pointer: `${at}/${pointerToken(m)}`, detail: `not used by ${kind}` });
  const t = v.table.name;
  if (kind === 'insert' || kind === 'upsert') {
    const row = kind === 'insert' ? v.insert(op.row, `${at}/row`, errors) : v.upsert(op.row, `${at}/row`, errors);
    return row === null ? null : { t, op: kind, row };
  }
  if (kind === 'delete') {
    const key = v.keyFromJson(op.key, `${at}/key`, errors);
    const row = op.row === undefined ? undefined : deleteRow(v, op.row, shardKeys[t], `${at}/row`, errors);
    return key === null || row === null ? null : { t, op: kind, key, ...(row !== undefined ? { row } : {}) };
  }
  const key = updateKey(v, op, at, errors);
  const row = key === null ? null : v.update(op.row, `${at}/row`, errors, key);
  return row === null ? null : { t, op: kind, key: key!, row };
}

const NO_WRITE_SCOPE = new ForbiddenError('POST /v1/batch needs a write scope (write:<table> or write:*)');

/** POST /v1/batch: several operations on several tables, applied atomically (one request, one transaction). */
function postBatch(d: WriteRouteDeps) {
  return async function postBatch(c: Ctx): Promise<Response> {
    const body = c.get('body');
    const raw = opsOf(body, d.maxRows);
    checkScopes(c, raw, d.validators);
    const errors: FieldError[] = [];
    const ops: WriteOp[] = [];
    for (let i = 0; i < raw.length; i++) {
      const op = toWriteOp(raw[i], `/ops/${i}`, d.validators, d.shardKeys, errors);
      if (op !== null) ops.push(op);
    }
    throwIfInvalid(errors);
    const ack = ackModeOf(c);
    const ret = ack !== 'queued' && ops.some((o) => o.op === 'insert' || o.op === 'upsert');
    const result = await d.service.submit({ ops, ack, ret, idem: idempotencyOf(c, 'batch', body), committedStatus: 200, owner: c.get('principal').id });
    return sendResult(c, result);
  };
}

/** Mount POST /v1/batch. */
export function batchRoutes(app: Hono<GatewayEnv>, d: WriteRouteDeps): void {
  // The tables are named in the body, but a key with no write scope at all is refused before a byte of it is read.
  app.post('/v1/batch', function batchScope(c, next) {
    if (!c.get('principal').hasWriteScope) throw NO_WRITE_SCOPE;
    return next();
  }, d.body, postBatch(d));
}

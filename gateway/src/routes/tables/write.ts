import type { MiddlewareHandler } from 'hono';
import { ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import { setHeader, type Ctx, type GatewayEnv } from '../../context.ts';
import type { WriteService } from '../../enqueue/service.ts';
import { checkRowCount, sendResult, throwIfInvalid } from '../respond.ts';
import { ackModeOf, idempotencyOf, wantsUpsert } from '../write-headers.ts';
import { exposedTable, keyFromUrl } from './guards.ts';
import { withShardKeyParam } from './shard-key.ts';

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

/** POST /v1/tables/{table}: one row or an array of rows; upsert with `Prefer: resolution=merge-duplicates`. */
export function postRows(d: WriteRouteDeps) {
  return async function postRows(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const body = c.get('body');
    const upsert = wantsUpsert(c);
    const op = upsert ? 'upsert' : 'insert';
    const many = Array.isArray(body);
    const rows: unknown[] = many ? body : [body];
    if (rows.length === 0) throw new ValidationError('the body is an empty array: send at least one row');
    checkRowCount(rows.length, d.maxRows);
    const errors: FieldError[] = [];
    const ops: WriteOp[] = [];
    for (let i = 0; i < rows.length; i++) {
      const at = many ? `/${i}` : '';
      const row = upsert ? v.upsert(rows[i], at, errors) : v.insert(rows[i], at, errors);
      if (row === null) continue;
      ops.push({ t: v.table.name, op, row });
    }
    throwIfInvalid(errors);
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, ack, ret: ack === 'committed', idem: idempotencyOf(c, op, body), committedStatus: 201 });
    // RFC 7240 §3: say which preference was honoured.
    if (upsert) setHeader(c, 'Preference-Applied', 'resolution=merge-duplicates');
    return sendResult(c, result);
  };
}

/** PATCH /v1/tables/{table}/{key}: set the given columns of one row. */
export function patchRow(d: WriteRouteDeps) {
  return async function patchRow(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const key = keyFromUrl(c, v);
    const body = c.get('body');
    const errors: FieldError[] = [];
    const row = v.update(body, '', errors, key);
    throwIfInvalid(errors);
    const ops: WriteOp[] = [withShardKeyParam(c, v.table, d.shardKeys[v.table.name], { t: v.table.name, op: 'update', key, row: row! })];
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, ack, ret: false, idem: idempotencyOf(c, 'update', body), committedStatus: 200 });
    return sendResult(c, result);
  };
}

/** DELETE /v1/tables/{table}/{key}: delete one row (no body). */
export function deleteRow(d: WriteRouteDeps) {
  return async function deleteRow(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const key = keyFromUrl(c, v);
    const ops: WriteOp[] = [withShardKeyParam(c, v.table, d.shardKeys[v.table.name], { t: v.table.name, op: 'delete', key })];
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, ack, ret: false, idem: idempotencyOf(c, 'delete', undefined), committedStatus: 200 });
    return sendResult(c, result);
  };
}

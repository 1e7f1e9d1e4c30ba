import type { Hono, MiddlewareHandler } from 'hono';
import {
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
  type FieldError,
  type TableValidator,
  type WriteOp,
} from '@sluice/shared';
import { setHeader, type Ctx, type GatewayEnv } from '../context.ts';
import type { WriteResult, WriteService } from '../enqueue/service.ts';
import { ackModeOf, idempotencyOf, wantsUpsert } from './write-headers.ts';

/** What the write routes need. */
export interface WriteRouteDeps {
  service: WriteService;
  /** Compiled validators by API table name: the allowlist. */
  validators: ReadonlyMap<string, TableValidator>;
  /** SLUICE_MAX_ROWS_PER_REQUEST */
  maxRows: number;
  /** The JSON body middleware (415/413/400). */
  body: MiddlewareHandler<GatewayEnv>;
}

/** At most this many field errors in one problem document. */
const MAX_REPORTED = 100;

/** 400 with every field error (capped), or nothing. */
export function throwIfInvalid(errors: FieldError[]): void {
  if (errors.length === 0) return;
  const shown = errors.length > MAX_REPORTED ? errors.slice(0, MAX_REPORTED) : errors;
  throw new ValidationError(`${errors.length} invalid value(s)${shown === errors ? '' : `; the first ${MAX_REPORTED} are listed`}`, shown);
}

/** 413 when a request carries more rows than SLUICE_MAX_ROWS_PER_REQUEST. */
export function checkRowCount(n: number, max: number): void {
  if (n > max) throw new PayloadTooLargeError(`${n} rows exceed SLUICE_MAX_ROWS_PER_REQUEST (${max})`);
}

/** Send a write result (and its headers) as JSON. */
export function sendResult(c: Ctx, r: WriteResult): Response {
  if (r.headers !== undefined) for (const name in r.headers) setHeader(c, name, r.headers[name]!);
  return c.json(r.body, r.status);
}

/**
 * `{table}` must be in the allowlist (404 otherwise — before any SQL, so
 * names like `users";DROP…` or `pg_catalog.pg_authid` never reach a query)
 * and the caller needs `write:<table>` (403).
 */
function writableTable(validators: ReadonlyMap<string, TableValidator>): MiddlewareHandler<GatewayEnv> {
  return async function writableTable(c, next) {
    const name = c.req.param('table') ?? '';
    const v = validators.get(name);
    if (v === undefined) throw new NotFoundError(`no table named ${JSON.stringify(name.slice(0, 100))} is exposed`);
    if (!c.get('principal').canWrite(name)) throw new ForbiddenError(`this API key lacks write:${name}`);
    c.set('table', v);
    return next();
  };
}

/**
 * The `{key}` segment as sent (still percent-encoded). Hono's decoded param
 * would turn `%2C` into a comma and merge two key values; the path keeps
 * reserved characters encoded.
 */
function rawKey(c: Ctx): string {
  const path = c.req.path;
  return path.slice(path.lastIndexOf('/') + 1);
}

function keyOf(c: Ctx, v: TableValidator): string[] {
  const errors: FieldError[] = [];
  const key = v.parseKey(rawKey(c), '', errors);
  if (key === null) throw new ValidationError(`invalid key in the URL: ${errors.map((e) => `${e.pointer} ${e.detail}`.trim()).join('; ')}`);
  return key;
}

/** POST /v1/tables/{table}: one row or an array of rows; upsert with `Prefer: resolution=merge-duplicates`. */
function postRows(d: WriteRouteDeps) {
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
    let route: { table: string; key: readonly string[] } | undefined;
    for (let i = 0; i < rows.length; i++) {
      const at = many ? `/${i}` : '';
      const row = upsert ? v.upsert(rows[i], at, errors) : v.insert(rows[i], at, errors);
      if (row === null) continue;
      ops.push({ t: v.table.name, op, row });
      if (route === undefined) {
        const key = v.keyOfRow(row);
        if (key !== null) route = { table: v.table.name, key };
      }
    }
    throwIfInvalid(errors);
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, route, ack, ret: ack === 'committed', idem: idempotencyOf(c, op, body), committedStatus: 201 });
    // RFC 7240 §3: say which preference was honoured.
    if (upsert) setHeader(c, 'Preference-Applied', 'resolution=merge-duplicates');
    return sendResult(c, result);
  };
}

/** PATCH /v1/tables/{table}/{key}: set the given columns of one row. */
function patchRow(d: WriteRouteDeps) {
  return async function patchRow(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const key = keyOf(c, v);
    const body = c.get('body');
    const errors: FieldError[] = [];
    const row = v.update(body, '', errors, key);
    throwIfInvalid(errors);
    const ops: WriteOp[] = [{ t: v.table.name, op: 'update', key, row: row! }];
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, route: { table: v.table.name, key }, ack, ret: false, idem: idempotencyOf(c, 'update', body), committedStatus: 200 });
    return sendResult(c, result);
  };
}

/** DELETE /v1/tables/{table}/{key}: delete one row (no body). */
function deleteRow(d: WriteRouteDeps) {
  return async function deleteRow(c: Ctx): Promise<Response> {
    const v = c.get('table');
    const key = keyOf(c, v);
    const ops: WriteOp[] = [{ t: v.table.name, op: 'delete', key }];
    const ack = ackModeOf(c);
    const result = await d.service.submit({ ops, route: { table: v.table.name, key }, ack, ret: false, idem: idempotencyOf(c, 'delete', undefined), committedStatus: 200 });
    return sendResult(c, result);
  };
}

/** Mount the table write routes. */
export function tableRoutes(app: Hono<GatewayEnv>, d: WriteRouteDeps): void {
  const table = writableTable(d.validators);
  app.post('/v1/tables/:table', table, d.body, postRows(d));
  app.patch('/v1/tables/:table/:key', table, d.body, patchRow(d));
  app.delete('/v1/tables/:table/:key', table, deleteRow(d));
}

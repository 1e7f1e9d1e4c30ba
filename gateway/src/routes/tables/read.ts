import { NotFoundError, ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { RowRead } from '@sluice/shared/read/key-reader.ts';
import type { ShardedReads } from '@sluice/shared/read/sharded.ts';
import type { ReadTable } from '@sluice/shared/read/tables.ts';
import { header, setHeader, type Ctx } from '../../context.ts';
import { checkRowCount, throwIfInvalid } from '../respond.ts';
import { exposedTable, keyFromUrl } from './guards.ts';
import { keysFromBody, keysFromInList, parseToken } from './params.ts';

/** What the read routes need. */
export interface ReadRouteDeps {
  /** The read path of every shard (one shard: its read service, unchanged). */
  service: ShardedReads;
}

const JSON_TYPE = 'application/json';

/** `{table}` must be exposed and readable by the caller. */
export function readableTable(c: Ctx, service: Pick<ShardedReads, 'tables'>): ReadTable {
  return exposedTable(c, service.tables, 'read');
}

/** RFC 9211 Cache-Status of a key read (`ttl` negative = served stale). */
export function cacheStatus(r: RowRead): string {
  switch (r.status) {
    case 'hit':
    case 'stale':
      return `sluice; hit; ttl=${Math.floor((r.ttlMs ?? 0) / 1000)}`;
    case 'request':
      return 'sluice; fwd=request';
    case 'bypass':
    case 'error':
      return 'sluice; fwd=bypass';
    case 'miss':
      return 'sluice; fwd=miss';
  }
}

/** A JSON body that is already text, with `Sluice-Source`. */
export function sendJson(c: Ctx, body: string, source: string): Response {
  setHeader(c, 'Sluice-Source', source);
  c.header('Content-Type', JSON_TYPE);
  return c.body(body, 200);
}

/** Sluice's multi-get: every key answered, null for a missing row, in the order asked. */
export async function multiGet(c: Ctx, d: ReadRouteDeps, t: ReadTable, keys: string[][]): Promise<Response> {
  if (keys.length === 0) throw new ValidationError('no keys given');
  checkRowCount(keys.length, d.service.settings.maxKeysPerRequest, 'keys');
  const r = await d.service.getRows(t, keys, parseToken(header(c, 'sluice-consistency-token')));
  return sendJson(c, `{"rows":[${r.rows.map((x) => x ?? 'null').join(',')}]}`, r.source);
}

/** GET /v1/tables/{table}/{key}: one row (404 if none); headers Sluice-Source, Cache-Status, Sluice-Consistency-Token. */
export function readRow(d: ReadRouteDeps) {
  return async function readRow(c: Ctx): Promise<Response> {
    const t = readableTable(c, d.service);
    const key = keyFromUrl(c, t.validator);
    const r = await d.service.getRow(t, key, parseToken(header(c, 'sluice-consistency-token')));
    setHeader(c, 'Cache-Status', cacheStatus(r));
    setHeader(c, 'Sluice-Consistency-Token', r.token);
    if (r.row === null) {
      setHeader(c, 'Sluice-Source', r.source);
      throw new NotFoundError(`no row of ${t.name} with key ${key.join(',')}`);
    }
    return sendJson(c, r.row, r.source);
  };
}

/** Checks `{table}` (404/403) before the body of `POST …/get` is read. */
export function readableBeforeBody(d: ReadRouteDeps) {
  return async function readableBeforeBody(c: Ctx, next: () => Promise<void>): Promise<void> {
    readableTable(c, d.service);
    await next();
  };
}

/** POST /v1/tables/{table}/get with `{"keys":[…]}` (and optionally `?key=in.(…)`): many rows by key, in the order asked. */
export function multiGetRows(d: ReadRouteDeps) {
  return async function multiGetRows(c: Ctx): Promise<Response> {
    const t = readableTable(c, d.service);
    const errors: FieldError[] = [];
    const keys = keysFromBody(t, c.get('body'), errors);
    const q = new URL(c.req.url).searchParams.get('key');
    if (q !== null && q.startsWith('in.')) keys.push(...keysFromInList(t.validator, q.slice(3), errors));
    throwIfInvalid(errors, 'key value');
    return multiGet(c, d, t, keys);
  };
}

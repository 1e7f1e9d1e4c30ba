import { NotFoundError, ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { ColumnInfo } from '@sluice/shared/catalog/types.ts';
import type { RowRead } from '@sluice/shared/read/key-reader.ts';
import type { ShardedReads } from '@sluice/shared/read/sharded.ts';
import type { ReadTable } from '@sluice/shared/read/tables.ts';
import { header, setHeader, type Ctx, type GatewayEnv } from '../../context.ts';
import { checkRowCount, throwIfInvalid } from '../respond.ts';
import { exposedTable, keyFromUrl } from './guards.ts';
import { decodeCursor, encodeCursor, keysFromBody, keysFromInList, parseLimit, parseToken } from './params.ts';

/** What the read routes need. */
export interface ReadRouteDeps {
  /** The read path of every shard (one shard: its read service, unchanged). */
  service: ShardedReads;
}

const DEFAULT_LIMIT = 100;
const JSON_TYPE = 'application/json';

/** `{table}` must be exposed and readable by the caller. */
export function readableTable(c: Ctx, service: Pick<ShardedReads, 'tables'>): ReadTable {
  return exposedTable(c, service.tables, 'read');
}

/** RFC 9211 Cache-Status of a key read (`ttl` negative = served stale). */
function cacheStatus(r: RowRead): string {
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

function sendJson(c: Ctx, body: string, source: string): Response {
  setHeader(c, 'Sluice-Source', source);
  c.header('Content-Type', JSON_TYPE);
  return c.body(body, 200);
}

async function multiGet(c: Ctx, d: ReadRouteDeps, t: ReadTable, keys: string[][]): Promise<Response> {
  if (keys.length === 0) throw new ValidationError('no keys given');
  checkRowCount(keys.length, d.service.settings.maxKeysPerRequest, 'keys');
  const r = await d.service.getRows(t, keys, parseToken(header(c, 'sluice-consistency-token')));
  return sendJson(c, `{"rows":[${r.rows.map((x) => x ?? 'null').join(',')}]}`, r.source);
}

/** GET /v1/tables/{table}?col=eq.v&limit=&after= (a page) or ?key=in.(…) (a multi-get). */
export async function listRows(c: Ctx, d: ReadRouteDeps, t: ReadTable): Promise<Response> {
  const url = new URL(c.req.url);
  const errors: FieldError[] = [];
  let filter: { col: ColumnInfo; value: string } | null = null;
  let after: string[] | null = null;
  for (const [name, value] of url.searchParams) {
    if (name === 'limit') continue;
    if (name === 'after') after = decodeCursor(t, value);
    else if (name === 'key' && value.startsWith('in.')) {
      const keys = keysFromInList(t, value.slice(3), errors);
      throwIfInvalid(errors, 'key value');
      return multiGet(c, d, t, keys);
    } else {
      const f = t.filters.get(name);
      if (f === undefined) throw new ValidationError(`cannot filter on ${JSON.stringify(name.slice(0, 100))}: filter on an indexed column (${[...t.filters.keys()].join(', ') || 'none'})`);
      if (filter !== null) throw new ValidationError('filter on one column at a time');
      if (!value.startsWith('eq.')) throw new ValidationError(`only eq. filters are supported: ${name}=eq.<value>`);
      const v = f.validator.keyFromJson(value.slice(3), `/${name}`, errors);
      if (v !== null) filter = { col: f.col, value: v[0]! };
    }
  }
  throwIfInvalid(errors, 'key value');
  const limit = parseLimit(url.searchParams.get('limit') ?? undefined, DEFAULT_LIMIT, d.service.settings.maxKeysPerRequest);
  const page = await d.service.list(t, filter, after, limit, parseToken(header(c, 'sluice-consistency-token')));
  const next = page.lastKey === null ? null : encodeCursor(page.lastKey);
  if (next !== null) {
    url.searchParams.set('after', next);
    // RFC 8288 web linking: the next page, relative to this resource.
    setHeader(c, 'Link', `<${url.pathname}?${url.searchParams.toString()}>; rel="next"`);
  }
  return sendJson(c, `{"rows":[${page.rows.join(',')}],"next":${JSON.stringify(next)}}`, page.source);
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

/** GET /v1/tables/{table}?col=eq.v&limit=&after= (a keyset page) or ?key=in.(…) (a multi-get). */
export function readRows(d: ReadRouteDeps) {
  return async function readRows(c: Ctx): Promise<Response> {
    return listRows(c, d, readableTable(c, d.service));
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
    if (q !== null && q.startsWith('in.')) keys.push(...keysFromInList(t, q.slice(3), errors));
    throwIfInvalid(errors, 'key value');
    return multiGet(c, d, t, keys);
  };
}

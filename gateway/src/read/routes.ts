import type { Hono, MiddlewareHandler } from 'hono';
import { ForbiddenError, NotFoundError, PayloadTooLargeError, UnauthorizedError, ValidationError, type ColumnInfo, type FieldError } from '@sluice/shared';
import { lsnText, type ReadTable } from '@sluice/shared/cache/index.ts';
import { header, setHeader, type Ctx, type GatewayEnv } from '../context.ts';
import { jsonBody } from '../middleware/body/index.ts';
import type { RowRead } from './key-reader.ts';
import { decodeCursor, encodeCursor, keysFromBody, keysFromInList, parseLimit, parseToken, throwIfInvalid } from './params.ts';
import type { ReadService } from './service.ts';

/** What the read routes need. */
export interface ReadDeps {
  service: ReadService;
  /**
   * May the caller read `table`? Default: the auth middleware's principal
   * holds `read:<table>` or `read:*`.
   */
  canRead?: (c: Ctx, table: string) => boolean;
  /** The JSON body middleware of `POST …/get` (default: jsonBody with the config's limits). */
  body?: MiddlewareHandler<GatewayEnv>;
}

const DEFAULT_LIMIT = 100;
const JSON_TYPE = 'application/json';

function principalCanRead(c: Ctx, table: string): boolean {
  const p = c.get('principal');
  if (p === undefined) throw new UnauthorizedError();
  return p.canRead(table);
}

/** `{table}` must be exposed (404, before anything else) and readable by the caller (403). */
function readableTable(service: ReadService, canRead: NonNullable<ReadDeps['canRead']>) {
  return function tableOf(c: Ctx): ReadTable {
    const name = c.req.param('table') ?? '';
    const t = service.tables.get(name);
    if (t === undefined) throw new NotFoundError(`no table named ${JSON.stringify(name.slice(0, 100))} is exposed`);
    if (!canRead(c, name)) throw new ForbiddenError(`this API key lacks read:${name}`);
    return t;
  };
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

function checkKeyCount(n: number, max: number): void {
  if (n === 0) throw new ValidationError('no keys given');
  if (n > max) throw new PayloadTooLargeError(`${n} keys exceed SLUICE_MAX_ROWS_PER_REQUEST (${max})`);
}

/** The `{key}` segment as sent: still percent-encoded, so `%2C` stays inside one key value. */
function rawKey(c: Ctx): string {
  const path = c.req.path;
  return path.slice(path.lastIndexOf('/') + 1);
}

async function multiGet(c: Ctx, d: ReadDeps, t: ReadTable, keys: string[][]): Promise<Response> {
  checkKeyCount(keys.length, d.service.config.SLUICE_MAX_ROWS_PER_REQUEST);
  const r = await d.service.getRows(t, keys, parseToken(header(c, 'sluice-consistency-token')));
  return sendJson(c, `{"rows":[${r.rows.map((x) => x ?? 'null').join(',')}]}`, r.source);
}

/** GET /v1/tables/{table}?col=eq.v&limit=&after= (a page) or ?key=in.(…) (a multi-get). */
async function listRows(c: Ctx, d: ReadDeps, t: ReadTable): Promise<Response> {
  const url = new URL(c.req.url);
  const errors: FieldError[] = [];
  let filter: { col: ColumnInfo; value: string } | null = null;
  let after: string[] | null = null;
  for (const [name, value] of url.searchParams) {
    if (name === 'limit') continue;
    if (name === 'after') after = decodeCursor(t, value);
    else if (name === 'key' && value.startsWith('in.')) {
      const keys = keysFromInList(t, value.slice(3), errors);
      throwIfInvalid(errors);
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
  throwIfInvalid(errors);
  const limit = parseLimit(url.searchParams.get('limit') ?? undefined, DEFAULT_LIMIT, d.service.config.SLUICE_MAX_ROWS_PER_REQUEST);
  const page = await d.service.list(t, filter, after, limit, parseToken(header(c, 'sluice-consistency-token')));
  const next = page.lastKey === null ? null : encodeCursor(page.lastKey);
  if (next !== null) {
    url.searchParams.set('after', next);
    // RFC 8288 web linking: the next page, relative to this resource.
    setHeader(c, 'Link', `<${url.pathname}?${url.searchParams.toString()}>; rel="next"`);
  }
  return sendJson(c, `{"rows":[${page.rows.join(',')}],"next":${JSON.stringify(next)}}`, page.source);
}

/**
 * Mount the read routes:
 *   GET  /v1/tables/{table}/{key}       one row (404 if none); headers Sluice-Source, Cache-Status, Sluice-Consistency-Token
 *   GET  /v1/tables/{table}?col=eq.v    a keyset page `{"rows":[…],"next":cursor|null}` (`limit`, `after`)
 *   GET  /v1/tables/{table}?key=in.(…)  many rows by key `{"rows":[row|null…]}`, in the order asked
 *   POST /v1/tables/{table}/get         the same with `{"keys":[…]}`
 * A request header `Sluice-Consistency-Token` asks for read-your-writes.
 * Mount after the auth middleware (`/v1/*`) and before `app.onError`.
 */
export function registerReadRoutes(app: Hono<GatewayEnv>, d: ReadDeps): void {
  const tableOf = readableTable(d.service, d.canRead ?? principalCanRead);
  const cfg = d.service.config;
  const body = d.body ?? jsonBody({ maxBytes: cfg.SLUICE_MAX_BODY_BYTES, maxDepth: cfg.SLUICE_MAX_JSON_DEPTH });

  app.get('/v1/tables/:table/:key', async function readRow(c) {
    const t = tableOf(c);
    const errors: FieldError[] = [];
    const key = t.validator.parseKey(rawKey(c), '', errors);
    if (key === null) throw new ValidationError(`invalid key in the URL: ${errors.map((e) => `${e.pointer} ${e.detail}`.trim()).join('; ')}`);
    const r = await d.service.getRow(t, key, parseToken(header(c, 'sluice-consistency-token')));
    setHeader(c, 'Cache-Status', cacheStatus(r));
    setHeader(c, 'Sluice-Consistency-Token', lsnText(r.lsn));
    if (r.row === null) {
      setHeader(c, 'Sluice-Source', r.source);
      throw new NotFoundError(`no row of ${t.name} with key ${key.join(',')}`);
    }
    return sendJson(c, r.row, r.source);
  });

  app.get('/v1/tables/:table', async function readRows(c) {
    return listRows(c, d, tableOf(c));
  });

  app.post(
    '/v1/tables/:table/get',
    async function readableForGet(c, next) {
      tableOf(c); // 404/403 before the body is read
      await next();
    },
    body,
    async function multiGetRows(c) {
      const t = tableOf(c);
      const errors: FieldError[] = [];
      const keys = keysFromBody(t, c.get('body'), errors);
      const q = new URL(c.req.url).searchParams.get('key');
      if (q !== null && q.startsWith('in.')) keys.push(...keysFromInList(t, q.slice(3), errors));
      throwIfInvalid(errors);
      return multiGet(c, d, t, keys);
    },
  );
}

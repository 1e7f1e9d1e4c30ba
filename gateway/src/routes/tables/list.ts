import { ValidationError } from '@sluice/shared/errors/index.ts';
import type { ShardTokens } from '@sluice/shared/read/tokens.ts';
import type { ReadTable } from '@sluice/shared/read/tables.ts';
import { header, setHeader, type Ctx } from '../../context.ts';
import { checkRowCount } from '../respond.ts';
import { cacheStatus, multiGet, readableTable, sendJson, type ReadRouteDeps } from './read.ts';
import { encodeCursor, parseLimit, parseToken } from './params.ts';
import { parseReadQuery, type ReadQuery } from './query.ts';
import { countPreference, sendRows, setContentRange } from './representation.ts';

/**
 * `GET /v1/tables/{table}?…`: a keyset page (eq. on an indexed column or
 * none, in key order, `after=` or gt./lt. on the key), rows by key (eq. on
 * the key, in.() on it, through the cache) or Sluice's multi-get
 * (`?key=in.(…)`). Sluice's shape is `{"rows":[…],"next":…}`; with
 * `select=` (postgrest-js always sends it) or a `vnd.pgrst` Accept, the
 * rows alone, as PostgREST answers.
 */

/** Rows of a page when the caller gave no limit: Sluice's default, or one whole page for PostgREST clients (its max-rows). */
const DEFAULT_LIMIT = 100;
/** Integer kinds compare as numbers, uuids as their lower-case text: the order Postgres gives them. */
const SORTABLE = new Set(['int2', 'int4', 'int8', 'uuid']);

/** GET /v1/tables/{table}?… as a route handler. */
export function readRows(d: ReadRouteDeps) {
  return async function readRows(c: Ctx): Promise<Response> {
    return listRows(c, d, readableTable(c, d.service));
  };
}

/** GET /v1/tables/{table}?… (see the module comment). */
export async function listRows(c: Ctx, d: ReadRouteDeps, t: ReadTable): Promise<Response> {
  const url = new URL(c.req.url);
  const q = parseReadQuery(t, url, header(c, 'accept'));
  const token = parseToken(header(c, 'sluice-consistency-token'));
  if (q.multiGet !== null) return multiGet(c, d, t, q.multiGet);
  if (q.keys !== null) return byKeys(c, d, t, q, q.keys, token);
  return page(c, d, t, q, url, token);
}

/** Sort rows found by an in.() list when order= asked for it. */
function ordered(t: ReadTable, found: { key: string[]; row: string }[], q: ReadQuery, explicit: boolean): string[] {
  if (explicit && found.length > 1) {
    const col = t.info.primaryKey[0]!;
    if (!SORTABLE.has(col.kind)) throw new ValidationError(`order= with in.() needs an integer or uuid key (${col.name} is ${col.type}): rows come in the order of the in.() list`);
    const num = col.kind !== 'uuid';
    found.sort((a, b) => {
      const x = a.key[0]!;
      const y = b.key[0]!;
      const cmp = num ? (BigInt(x) < BigInt(y) ? -1 : BigInt(x) > BigInt(y) ? 1 : 0) : x < y ? -1 : x > y ? 1 : 0;
      return q.desc ? -cmp : cmp;
    });
  }
  return found.map((f) => f.row);
}

/** Rows by key through the cache: those that exist (PostgREST's answer to eq./in. on the key). */
async function byKeys(c: Ctx, d: ReadRouteDeps, t: ReadTable, q: ReadQuery, keys: string[][], token: ShardTokens | undefined): Promise<Response> {
  checkRowCount(keys.length, d.service.settings.maxKeysPerRequest, 'keys');
  let found: { key: string[]; row: string }[] = [];
  let source = 'cache';
  if (keys.length === 0) {
    // in.() with nothing in it: no row, and nothing to read.
  } else if (keys.length === 1) {
    const r = await d.service.getRow(t, keys[0]!, token);
    setHeader(c, 'Cache-Status', cacheStatus(r));
    setHeader(c, 'Sluice-Consistency-Token', r.token);
    found = r.row === null ? [] : [{ key: keys[0]!, row: r.row }];
    source = r.source;
  } else {
    const r = await d.service.getRows(t, keys, token);
    r.rows.forEach((row, i) => row !== null && found.push({ key: keys[i]!, row }));
    source = r.source;
  }
  const rows = ordered(t, found, q, new URL(c.req.url).searchParams.has('order'));
  const limit = q.limit === undefined ? rows.length : parseLimit(q.limit, rows.length, d.service.settings.maxKeysPerRequest);
  const shown = rows.slice(q.offset, q.offset + limit);
  setHeader(c, 'Sluice-Source', source);
  if (!q.pgrst) return sendJson(c, `{"rows":[${shown.join(',')}],"next":null}`, source);
  // The total is known exactly: every named key was looked up.
  const count = countPreference(c);
  setContentRange(c, q.offset, shown.length, count === undefined ? undefined : rows.length);
  if (count !== undefined) setHeader(c, 'Preference-Applied', `count=${count}`);
  return sendRows(c, shown, q);
}

/** One keyset page from a replica or the primary. */
async function page(c: Ctx, d: ReadRouteDeps, t: ReadTable, q: ReadQuery, url: URL, token: ShardTokens | undefined): Promise<Response> {
  const max = d.service.settings.maxKeysPerRequest;
  if (q.pgrst && countPreference(c) !== undefined) {
    throw new ValidationError('Prefer: count=… on a list would need a scan: Sluice counts only rows looked up by key (eq. or in.() on the primary key)');
  }
  // .single() needs to know only whether there is more than one row; an offset without a limit takes the rest of the page.
  const dflt = Math.max(1, Math.min(q.pgrst ? max : DEFAULT_LIMIT, max - q.offset));
  const limit = Math.min(parseLimit(q.limit, dflt, max), q.single ? 2 : max);
  if (q.offset + limit > max) throw new ValidationError(`offset + limit must be at most ${max} (one page; OFFSET costs a scan of what it skips): page with the key instead (gt./lt. on it, or the after= cursor of the Link header)`);
  const p = await d.service.list(t, q.filter, q.after, q.offset + limit, token, q.desc);
  const rows = p.rows.slice(q.offset);
  const next = p.lastKey === null ? null : encodeCursor(p.lastKey);
  if (next !== null) {
    const link = new URLSearchParams();
    for (const [k, v] of url.searchParams) if (k !== 'offset' && k !== 'after' && !(t.info.primaryKey[0]!.name === k && /^(gt|lt)\./.test(v))) link.append(k, v);
    link.set('after', next);
    // RFC 8288 web linking: the next page, relative to this resource.
    setHeader(c, 'Link', `<${url.pathname}?${link.toString()}>; rel="next"`);
  }
  if (!q.pgrst) return sendJson(c, `{"rows":[${rows.join(',')}],"next":${JSON.stringify(next)}}`, p.source);
  setHeader(c, 'Sluice-Source', p.source);
  setContentRange(c, q.offset, rows.length, undefined);
  return sendRows(c, rows, q);
}

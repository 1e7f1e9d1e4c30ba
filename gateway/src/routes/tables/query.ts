import type { ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import { ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { ReadTable } from '@sluice/shared/read/tables.ts';
import { throwIfInvalid } from '../respond.ts';
import { decodeCursor, keysFromInList } from './params.ts';
import { parseSelect, type Projection } from './select.ts';

/**
 * The query string of `/v1/tables/{table}`: Sluice's own parameters and the
 * part of PostgREST's syntax that an index serves without a scan (README,
 * "PostgREST clients"). Anything else is a 400 that says what is supported.
 */

/** A parsed read query. */
export interface ReadQuery {
  /** Answer in PostgREST's shape (a JSON array; one object for `.single()`): `select=` given or a `vnd.pgrst` Accept. */
  pgrst: boolean;
  /** `Accept: application/vnd.pgrst.object+json` (`.single()`): exactly one row, else 406. */
  single: boolean;
  projection: Projection;
  /** Sluice's own `?key=in.(…)`: every key answered, null for a missing row, in the order asked. */
  multiGet: string[][] | null;
  /** Rows by key (eq. on every key column, in.() on a one-column key): those that exist. */
  keys: string[][] | null;
  /** eq. on one indexed column. */
  filter: { col: ColumnInfo; value: string } | null;
  /** Keyset position: `after=` (the opaque cursor) or gt./lt. on a one-column key. */
  after: string[] | null;
  /** `order=<key>.desc` */
  desc: boolean;
  limit: string | undefined;
  offset: number;
}

/** Filter operators Sluice serves. */
type Op = 'eq' | 'in' | 'gt' | 'lt';
const OPS: ReadonlySet<string> = new Set(['eq', 'in', 'gt', 'lt']);
/** PostgREST's own parameters that Sluice does not serve on this route (logic trees, write options). */
const RESERVED: ReadonlySet<string> = new Set(['or', 'and', 'not', 'on_conflict', 'columns']);

/** 400 naming what the read routes serve. */
function unsupported(what: string, t: ReadTable): ValidationError {
  const pk = t.info.primaryKey.map((c) => c.name);
  const one = pk.length === 1 ? `, in.(…) on ${pk[0]}, gt./lt. on ${pk[0]} for keyset paging (with order=${pk[0]}.asc / ${pk[0]}.desc)` : '';
  return new ValidationError(
    `${what}. Sluice serves, without a scan: eq. on every primary-key column (${pk.join(', ')})${one}, or eq. on one indexed column (${[...t.filters.keys()].join(', ') || 'none'}); order by the primary key; limit; offset within one page; select of columns (alias:column)`,
  );
}

/** `eq.v` → ['eq', 'v']; null for an operator Sluice does not serve. */
function operator(value: string): [Op, string] | null {
  const dot = value.indexOf('.');
  const op = dot < 0 ? '' : value.slice(0, dot);
  return OPS.has(op) ? [op as Op, value.slice(dot + 1)] : null;
}

/** `order=a.asc,b.desc.nullslast`: a prefix of the primary key, one direction (nulls options are moot on key columns). */
function parseOrder(t: ReadTable, raw: string): boolean {
  const pk = t.info.primaryKey;
  const dirs = raw.split(',').map((item, i) => {
    const [col, dir = 'asc', nulls, extra] = item.split('.');
    const ok = col === pk[i]?.name && (dir === 'asc' || dir === 'desc') && (nulls === undefined || nulls === 'nullsfirst' || nulls === 'nullslast') && extra === undefined;
    if (!ok) throw unsupported(`cannot order by ${JSON.stringify(raw.slice(0, 100))}`, t);
    return dir;
  });
  if (new Set(dirs).size > 1) throw unsupported('order: one direction for every key column', t);
  return dirs[0] === 'desc';
}

function parseOffset(raw: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw new ValidationError('offset must be a non-negative integer');
  return Number(raw);
}

/** What the column filters of a query ask for, before they are combined. */
interface Filters {
  keyEq: Map<string, string>;
  inList: string | undefined;
  bound: { op: 'gt' | 'lt'; value: string } | undefined;
  other: { col: ColumnInfo; value: string }[];
}

function addFilter(t: ReadTable, f: Filters, name: string, value: string): void {
  const col = t.info.byName.get(name);
  if (col === undefined) throw unsupported(`cannot filter on ${JSON.stringify(name.slice(0, 100))}: no such column`, t);
  const parsed = operator(value);
  if (parsed === null) throw unsupported(`cannot filter with ${name}=${value.slice(0, 60)}`, t);
  const [op, arg] = parsed;
  const pk = t.info.primaryKey;
  const inKey = pk.some((c) => c.name === name);
  if (op === 'eq' && inKey) f.keyEq.set(name, arg);
  else if (op === 'eq') f.other.push({ col, value: arg });
  else if (op === 'in' && inKey && pk.length === 1 && f.inList === undefined) f.inList = arg;
  else if ((op === 'gt' || op === 'lt') && inKey && pk.length === 1 && f.bound === undefined) f.bound = { op, value: arg };
  else throw unsupported(`cannot filter with ${name}=${value.slice(0, 60)}`, t);
}

/** One filter value through the converter of its column (an indexed column's validator). */
function filterValue(t: ReadTable, col: ColumnInfo, value: string, errors: FieldError[]): { col: ColumnInfo; value: string } | null {
  const f = t.filters.get(col.name);
  if (f === undefined) throw unsupported(`cannot filter on ${col.name}: it leads no index`, t);
  const v = f.validator.keyFromJson(value, `/${col.name}`, errors);
  return v === null ? null : { col, value: v[0]! };
}

/** Combine the filters into rows by key, one indexed filter, or a keyset bound. */
function resolveFilters(t: ReadTable, f: Filters, q: ReadQuery, errors: FieldError[]): void {
  const pk = t.info.primaryKey;
  if (f.keyEq.size === pk.length) q.keys = [t.validator.keyFromJson(pk.map((c) => f.keyEq.get(c.name)), '/key', errors) ?? []];
  else if (f.keyEq.size > 0) for (const [name, value] of f.keyEq) f.other.push({ col: t.info.byName.get(name)!, value });
  if (f.inList !== undefined) {
    if (q.keys !== null) throw unsupported('eq. and in.() on the key together', t);
    q.keys = dedupe(keysFromInList(t.validator, f.inList, errors));
  }
  if (f.other.length > 1) throw unsupported(`filters on ${f.other.map((o) => o.col.name).join(' and ')} together`, t);
  if (f.other.length === 1) {
    if (q.keys !== null) throw unsupported('a key lookup with another filter', t);
    q.filter = filterValue(t, f.other[0]!.col, f.other[0]!.value, errors);
  }
  if (f.bound !== undefined) {
    if (q.keys !== null || q.after !== null) throw unsupported('gt./lt. on the key with a key lookup or after=', t);
    if ((f.bound.op === 'lt') !== q.desc) throw unsupported(`${pk[0]!.name}=${f.bound.op}. pages ${f.bound.op === 'gt' ? 'up: order ascending' : 'down: add order=' + pk[0]!.name + '.desc'}`, t);
    q.after = t.validator.keyFromJson(f.bound.value, `/${pk[0]!.name}`, errors);
  }
  if (q.keys !== null && q.after !== null) throw unsupported('after= with a key lookup', t);
}

function dedupe(keys: string[][]): string[][] {
  const seen = new Set<string>();
  return keys.filter((k) => {
    const id = k.join('\u0000');
    return seen.has(id) ? false : (seen.add(id), true);
  });
}

/** Parse the query of `GET /v1/tables/{table}`. */
export function parseReadQuery(t: ReadTable, url: URL, accept: string | undefined): ReadQuery {
  const single = accept?.includes('application/vnd.pgrst.object+json') ?? false;
  const select = url.searchParams.get('select');
  const q: ReadQuery = {
    pgrst: select !== null || single || (accept?.includes('application/vnd.pgrst.') ?? false),
    single,
    projection: select === null ? null : parseSelect(t.info, select),
    multiGet: null, keys: null, filter: null, after: null, desc: false, limit: undefined, offset: 0,
  };
  const f: Filters = { keyEq: new Map(), inList: undefined, bound: undefined, other: [] };
  const errors: FieldError[] = [];
  for (const [name, value] of url.searchParams) {
    if (name === 'select') continue;
    else if (name === 'limit') q.limit = value;
    else if (name === 'offset') q.offset = parseOffset(value);
    else if (name === 'order') q.desc = parseOrder(t, value);
    else if (name === 'after') q.after = decodeCursor(t, value);
    else if (name === 'key' && !q.pgrst && value.startsWith('in.') && !t.info.byName.has('key')) q.multiGet = keysFromInList(t.validator, value.slice(3), errors);
    else if (RESERVED.has(name)) throw unsupported(`${name}= is not supported on reads`, t);
    else addFilter(t, f, name, value);
  }
  resolveFilters(t, f, q, errors);
  throwIfInvalid(errors, 'key value');
  return q;
}

/**
 * The rows a PATCH or DELETE on the collection names: eq. on every
 * primary-key column, or in.(…) on a one-column key. Any other filter would
 * need a scan to find its rows: 400.
 */
export function keysOfFilter(v: TableValidator, url: URL, shardColumn?: string): string[][] {
  const t: TableInfo = v.table;
  const pk = t.primaryKey;
  const supported = `PATCH and DELETE on ${t.name} take eq. on every primary-key column (${pk.map((c) => `${c.name}=eq.…`).join('&')})${pk.length === 1 ? ` or ${pk[0]!.name}=in.(…)` : ''}: Sluice writes rows by key, without a scan`;
  const eq = new Map<string, string>();
  let inList: string | undefined;
  for (const [name, value] of url.searchParams) {
    if (name === 'select' || name === 'columns') continue;
    // A sharded table's shard key outside its primary key says where the rows live (tables/shard-key.ts).
    if (name === shardColumn && !pk.some((c) => c.name === name)) continue;
    const parsed = operator(value);
    const inKey = pk.some((c) => c.name === name);
    if (parsed !== null && inKey && parsed[0] === 'eq' && !eq.has(name)) eq.set(name, parsed[1]);
    else if (parsed !== null && inKey && parsed[0] === 'in' && pk.length === 1 && inList === undefined) inList = parsed[1];
    else throw new ValidationError(`cannot write rows matching ${name}=${value.slice(0, 60)}. ${supported}`);
  }
  const errors: FieldError[] = [];
  let keys: string[][];
  if (inList !== undefined && eq.size === 0) keys = dedupe(keysFromInList(v, inList, errors));
  else if (inList === undefined && eq.size === pk.length) keys = [v.keyFromJson(pk.map((c) => eq.get(c.name)), '/key', errors) ?? []];
  else throw new ValidationError(`no rows named. ${supported}`);
  throwIfInvalid(errors, 'key value');
  if (keys.length === 0) throw new ValidationError(`in.() names no key. ${supported}`);
  return keys;
}

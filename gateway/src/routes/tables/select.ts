import type { TableInfo } from '@sluice/shared/catalog/types.ts';
import { ValidationError } from '@sluice/shared/errors/index.ts';

/**
 * PostgREST's `select=` column list, the part Sluice serves: `*`, column
 * names (bare or double-quoted) and renames `alias:column`. Rows stay the
 * text `row_to_json` made (what the cache holds): a projection slices the
 * raw text of each member out of it, so numbers keep every digit (an int8
 * beyond 2^53 would not survive JSON.parse).
 */

/** One output member: its name and the column it comes from. */
export interface Projected {
  alias: string;
  column: string;
}

/** The columns to answer with, in order; null = every column as stored (`*`). */
export type Projection = readonly Projected[] | null;

const UNSUPPORTED = /[()!>]|::|\.\.\./;

/** Split on commas outside double quotes. */
function items(raw: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of raw) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** A name, bare or in PostgREST's double quotes (`"my col"`, `\"` inside). */
function unquote(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/** `alias:column` → its parts (the alias may be quoted too). */
function splitAlias(item: string): [string | undefined, string] {
  let quoted = false;
  for (let i = 0; i < item.length; i++) {
    if (item[i] === '"') quoted = !quoted;
    else if (item[i] === ':' && !quoted) return [unquote(item.slice(0, i)), item.slice(i + 1)];
  }
  return [undefined, item];
}

/** Parse `select=`; 400 naming what is supported for anything else (embedding, casts, JSON paths, aggregates). */
export function parseSelect(t: TableInfo, raw: string): Projection {
  const out: Projected[] = [];
  for (const item of items(raw.trim())) {
    if (item === '*') {
      for (const c of t.columns) out.push({ alias: c.name, column: c.name });
      continue;
    }
    const [alias, rest] = splitAlias(item);
    const name = unquote(rest);
    if (name === '' || (!item.includes('"') && UNSUPPORTED.test(item))) {
      throw new ValidationError(`select=${raw.slice(0, 200)}: Sluice selects columns of one table: *, column names and renames (alias:column); no embedding, casts, JSON paths or aggregates`);
    }
    if (!t.byName.has(name)) throw new ValidationError(`select: ${JSON.stringify(name.slice(0, 100))} is not a column of ${t.name}`);
    out.push({ alias: alias ?? name, column: name });
  }
  const all = out.length === t.columns.length && out.every((p, i) => p.alias === p.column && p.column === t.columns[i]!.name);
  return all ? null : out;
}

/** Index after the JSON string starting at `i` (a `"`). */
function stringEnd(s: string, i: number): number {
  let j = i + 1;
  while (s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index after the JSON value starting at `i`. */
function valueEnd(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return stringEnd(s, i);
  if (c !== '{' && c !== '[') {
    let j = i;
    while (j < s.length && s[j] !== ',' && s[j] !== '}' && s[j] !== ']' && s[j] !== ' ' && s[j] !== '\n') j++;
    return j;
  }
  let depth = 0;
  let j = i;
  for (; j < s.length; j++) {
    const x = s[j];
    if (x === '"') j = stringEnd(s, j) - 1;
    else if (x === '{' || x === '[') depth++;
    else if (x === '}' || x === ']') if (--depth === 0) return j + 1;
  }
  return j;
}

const skipWs = (s: string, i: number) => {
  while (s[i] === ' ' || s[i] === '\n' || s[i] === '\t' || s[i] === '\r') i++;
  return i;
};

/** The top-level members of a JSON object's text, each value as its raw text. */
export function members(json: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = skipWs(json, 0) + 1;
  for (;;) {
    i = skipWs(json, i);
    if (i >= json.length || json[i] === '}') return out;
    const keyEnd = stringEnd(json, i);
    const key = JSON.parse(json.slice(i, keyEnd)) as string;
    i = skipWs(json, skipWs(json, keyEnd) + 1);
    const end = valueEnd(json, i);
    out.set(key, json.slice(i, end));
    i = skipWs(json, end);
    if (json[i] === ',') i++;
  }
}

/** A stored row (`row_to_json` text) with only the projected members, renamed. */
export function project(row: string, p: Projection): string {
  if (p === null) return row;
  const m = members(row);
  return `{${p.map((x) => `${JSON.stringify(x.alias)}:${m.get(x.column) ?? 'null'}`).join(',')}}`;
}

import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import { ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import { parseTokens, type ShardTokens } from '@sluice/shared/read/tokens.ts';
import { type ReadTable } from '@sluice/shared/read/tables.ts';

/**
 * Parsing of the read routes' inputs: the consistency token header, keys in
 * `?key=in.(…)` and in a JSON body, list filters (`col=eq.value`), `limit`
 * and the opaque keyset cursor `after`.
 */

/** `Sluice-Consistency-Token` (from a committed write or a read: an LSN, or shard:LSN pairs) → positions per shard; 400 when malformed. */
export function parseToken(raw: string | undefined): ShardTokens | undefined {
  return parseTokens(raw);
}

/**
 * Elements of a PostgREST-style list `(a,b,"c,d")`: comma-separated,
 * double quotes around an element that holds a comma, `\"` and `\\` inside
 * quotes. Null when unbalanced.
 */
export function parseInList(s: string): string[] | null {
  if (!s.startsWith('(') || !s.endsWith(')')) return null;
  const body = s.slice(1, -1);
  const out: string[] = [];
  let i = 0;
  while (i <= body.length) {
    if (body[i] === '"') {
      let v = '';
      i++;
      for (; i < body.length && body[i] !== '"'; i++) v += body[i] === '\\' && i + 1 < body.length ? body[++i] : body[i];
      if (body[i] !== '"') return null;
      out.push(v);
      i++;
      if (i < body.length && body[i] !== ',') return null;
      i++;
    } else {
      const comma = body.indexOf(',', i);
      const end = comma < 0 ? body.length : comma;
      out.push(body.slice(i, end));
      i = end + 1;
    }
  }
  return body.length === 0 ? [] : out;
}

/** Keys from `?key=in.(…)` (or `?<key column>=in.(…)`): one element per key; a composite key's values joined by `,` inside quotes. */
export function keysFromInList(v: TableValidator, raw: string, errors: FieldError[]): string[][] {
  const items = parseInList(raw);
  if (items === null) throw new ValidationError('in.(…) is malformed: use in.(1,2,3), quoting elements that hold a comma: in.("a,1","b,2")');
  const n = v.table.primaryKey.length;
  const out: string[][] = [];
  items.forEach((item, i) => {
    const key = v.keyFromJson(n === 1 ? item : item.split(','), `/key/${i}`, errors);
    if (key !== null) out.push(key);
  });
  return out;
}

/** Keys from a JSON body `{"keys": [...]}`: each `[v1, v2]`, `{col: v}` or a bare value (one-column keys). */
export function keysFromBody(t: ReadTable, body: unknown, errors: FieldError[]): string[][] {
  const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new ValidationError('the body must be {"keys": [key, …]}', [{ pointer: '/keys', detail: 'expected an array of keys' }]);
  const out: string[][] = [];
  keys.forEach((k, i) => {
    const key = t.validator.keyFromJson(k, `/keys/${i}`, errors);
    if (key !== null) out.push(key);
  });
  return out;
}

/** `limit`: 1…max, default `dflt`. */
export function parseLimit(raw: string | undefined, dflt: number, max: number): number {
  if (raw === undefined) return Math.min(dflt, max);
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) throw new ValidationError(`limit must be an integer from 1 to ${max}`);
  return Number(raw);
}

/** The cursor of the page after the row with key `key`: base64url of its key values (opaque to clients). */
export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Key values of a cursor, validated and canonicalised; 400 when it is not one of ours. */
export function decodeCursor(t: ReadTable, raw: string): string[] {
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    values = undefined;
  }
  const errors: FieldError[] = [];
  const key = Array.isArray(values) && values.length === t.info.primaryKey.length ? t.validator.keyFromJson(values, '/after', errors) : null;
  if (key === null) throw new ValidationError('after is not a cursor of this table (use the "next" value of the previous page)');
  return key;
}

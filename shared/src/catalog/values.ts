import type { ColumnInfo, ColumnKind } from './types.ts';

/**
 * One JSON value → the Postgres text input of its column (or SQL NULL, or
 * `Invalid` with the reason): what validate.ts runs for every value of every
 * row. Postgres still parses every value; this rejects early what would
 * certainly fail (and could only be dead-lettered later) and canonicalises
 * keys, so one key routes to one partition however it was spelled.
 */

/** A failed conversion; only built on the error path. */
export class Invalid {
  constructor(readonly detail: string) {}
}

/** Range of a JSON number in an integer column (int8: the exact doubles; beyond, a string of digits). */
export const INT_RANGE: Partial<Record<ColumnKind, [number, number]>> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
  int8: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
/** Range of a string of digits in an integer column (the column type's own range). */
export const INT_TEXT_RANGE: Partial<Record<ColumnKind, [bigint, bigint]>> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};

/** What each kind accepts, in words: error details, and the descriptions of the JSON Schemas (json-schema.ts). */
export const EXPECTED: Record<ColumnKind, string> = {
  bool: 'a boolean',
  int2: 'an integer (int2)',
  int4: 'an integer (int4)',
  int8: 'an integer (int8; beyond ±2^53 send it as a string of digits)',
  float: 'a number',
  numeric: 'a number or a numeric string',
  text: 'a string',
  uuid: 'a UUID string',
  json: 'any JSON value',
  timestamp: 'an ISO 8601 timestamp string',
  date: 'an ISO 8601 date string (YYYY-MM-DD)',
  time: 'an ISO 8601 time string (HH:MM[:SS[.fff]])',
  bytea: 'a base64 string',
  unsupported: 'nothing: this column type is not supported by Sluice',
};

/**
 * The text forms each kind accepts. json-schema.ts builds the OpenAPI
 * document's column schemas from these same expressions, and its test runs
 * every kind through both.
 */
export const INT_TEXT = /^[+-]?\d{1,19}$/;
export const NUMERIC_TEXT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?|NaN|[+-]?Infinity)$/;
export const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ZONE = '(?:[Zz]|[+-]\\d{2}(?::?\\d{2})?)?';
const TIME = `\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,6})?)?`;
export const DATE_TEXT = /^(?:\d{4,}-\d{2}-\d{2}|-?infinity)$/;
export const TIME_TEXT = new RegExp(`^${TIME}${ZONE}$`);
export const TIMESTAMP_TEXT = new RegExp(`^(?:\\d{4,}-\\d{2}-\\d{2}(?:[Tt ]${TIME}${ZONE})?|-?infinity)$`);
export const BASE64_TEXT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function intFromText(kind: ColumnKind, s: string): string | Invalid {
  if (!INT_TEXT.test(s)) return new Invalid(`expected ${EXPECTED[kind]}`);
  if (kind !== 'int8' || s.length < 16) return intFromNumber(kind, Number(s));
  const n = BigInt(s);
  const [min, max] = INT_TEXT_RANGE.int8!;
  return n < min || n > max ? new Invalid('out of range for int8') : n.toString();
}

function intFromNumber(kind: ColumnKind, n: number): string | Invalid {
  if (!Number.isInteger(n)) return new Invalid(`expected ${EXPECTED[kind]}`);
  const [min, max] = INT_RANGE[kind]!;
  if (n < min || n > max) return new Invalid(kind === 'int8' ? 'integer beyond ±2^53: send it as a string of digits' : `out of range for ${kind}`);
  return String(n); // also turns -0 into "0"
}

/** Characters (code points) in `s`, counting only as far as needed to compare with `max`. */
function longerThan(s: string, max: number): boolean {
  if (s.length <= max) return false; // UTF-16 units ≥ code points
  let n = 0;
  for (const _ of s) if (++n > max) return true;
  return false;
}

function textValue(col: ColumnInfo, s: string): string | Invalid {
  // Postgres text cannot hold NUL (SQLSTATE 22021); refuse it here rather than dead-letter later.
  if (s.indexOf('\u0000') >= 0) return new Invalid('contains a NUL character (\\u0000), which Postgres text cannot store');
  if (col.maxLength !== undefined && longerThan(s, col.maxLength)) return new Invalid(`longer than ${col.maxLength} characters`);
  return s;
}

function match(re: RegExp, kind: ColumnKind, s: string): string | Invalid {
  return re.test(s) ? s : new Invalid(`expected ${EXPECTED[kind]}`);
}

/** A string as the value of a column (a JSON string, or one part of a URL key). */
function fromText(col: ColumnInfo, s: string): string | Invalid {
  switch (col.kind) {
    case 'text': return textValue(col, s);
    case 'int2': case 'int4': case 'int8': return intFromText(col.kind, s);
    case 'float': case 'numeric': return match(NUMERIC_TEXT, col.kind, s);
    case 'uuid': return UUID_TEXT.test(s) ? s.toLowerCase() : new Invalid(`expected ${EXPECTED.uuid}`);
    case 'timestamp': return match(TIMESTAMP_TEXT, col.kind, s);
    case 'date': return match(DATE_TEXT, col.kind, s);
    case 'time': return match(TIME_TEXT, col.kind, s);
    case 'bool': return s === 'true' || s === 'false' ? s : new Invalid(`expected ${EXPECTED.bool}`);
    case 'bytea': return BASE64_TEXT.test(s) ? '\\x' + Buffer.from(s, 'base64').toString('hex') : new Invalid(`expected ${EXPECTED.bytea}`);
    case 'json': return jsonValue(s);
    case 'unsupported': return new Invalid(`column type ${col.type} is not supported`);
  }
}

/** True when some string (key or value) inside `v` holds a NUL; iterative, `v` is already depth-limited. */
function hasNul(v: unknown): boolean {
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x === 'string') {
      if (x.indexOf('\u0000') >= 0) return true;
    } else if (x !== null && typeof x === 'object') {
      for (const k in x) {
        if (k.indexOf('\u0000') >= 0) return true;
        stack.push((x as Record<string, unknown>)[k]);
      }
    }
  }
  return false;
}

function jsonValue(v: unknown): string | Invalid {
  const s = JSON.stringify(v);
  // jsonb rejects \u0000 (SQLSTATE 22P05). Only walk the value when the text hints at one.
  if (s.indexOf('\\u0000') >= 0 && hasNul(v)) return new Invalid('contains a NUL character (\\u0000), which Postgres json cannot store');
  return s;
}

/** Any JSON value → Postgres text, null (SQL NULL), or Invalid. */
export function convert(col: ColumnInfo, v: unknown): string | null | Invalid {
  if (v === null) return null;
  if (col.kind === 'json') return jsonValue(v);
  switch (typeof v) {
    case 'string': return fromText(col, v);
    case 'number':
      if (col.kind === 'int2' || col.kind === 'int4' || col.kind === 'int8') return intFromNumber(col.kind, v);
      return col.kind === 'float' || col.kind === 'numeric' ? String(v) : new Invalid(`expected ${EXPECTED[col.kind]}`);
    case 'boolean':
      return col.kind === 'bool' ? (v ? 'true' : 'false') : new Invalid(`expected ${EXPECTED[col.kind]}`);
    default:
      return new Invalid(`expected ${EXPECTED[col.kind]}`);
  }
}


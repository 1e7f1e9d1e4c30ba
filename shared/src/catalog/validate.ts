import type { FieldError } from '../errors/index.ts';
import type { ColumnInfo, ColumnKind, TableInfo } from './types.ts';

/**
 * Client JSON → Postgres text input values (the queue contract's
 * `Record<string, string | null>`), compiled once per table. Each check
 * appends a `FieldError` located by a JSON Pointer (RFC 6901) and keeps going,
 * so one response lists every problem of a request. Postgres still parses
 * every value; the gateway rejects early what would certainly fail and
 * canonicalises keys so a key routes to one partition however it was spelled.
 */

/** One validated row: column name → Postgres text value or NULL. */
export type TextRow = Record<string, string | null>;

/** A table's compiled validator. All methods are allocation-light and never throw. */
export interface TableValidator {
  readonly table: TableInfo;
  /** A row to INSERT; `at` is the row's JSON Pointer (`''`, `/3`, `/ops/2/row`). */
  insert(input: unknown, at: string, errors: FieldError[]): TextRow | null;
  /** A row to upsert on the primary key: like insert, and every key column is required. */
  upsert(input: unknown, at: string, errors: FieldError[]): TextRow | null;
  /** The columns to SET on the row `key`; key columns may only repeat their current value. */
  update(input: unknown, at: string, errors: FieldError[], key: readonly string[]): TextRow | null;
  /** A URL `{key}` segment, still percent-encoded: values joined by `,` in key-column order. */
  parseKey(raw: string, at: string, errors: FieldError[]): string[] | null;
  /** A key given in JSON: `[v1, v2]` in key order, `{col: v}`, or a bare value for a one-column key. */
  keyFromJson(input: unknown, at: string, errors: FieldError[]): string[] | null;
  /** The key values of a row carrying every key column (for routing), else null. */
  keyOfRow(row: TextRow): string[] | null;
}

/** Escape one reference token (RFC 6901 §3: `~` → `~0`, `/` → `~1`). */
export function pointerToken(name: string): string {
  return name.indexOf('~') < 0 && name.indexOf('/') < 0 ? name : name.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A failed conversion; only built on the error path. */
class Invalid {
  constructor(readonly detail: string) {}
}

const INT_RANGE: Partial<Record<ColumnKind, [number, number]>> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
  int8: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;

const EXPECTED: Record<ColumnKind, string> = {
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

const INT_TEXT = /^[+-]?\d{1,19}$/;
const NUMERIC_TEXT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?|NaN|[+-]?Infinity)$/;
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ZONE = '(?:[Zz]|[+-]\\d{2}(?::?\\d{2})?)?';
const TIME = `\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,6})?)?`;
const DATE_TEXT = /^(?:\d{4,}-\d{2}-\d{2}|-?infinity)$/;
const TIME_TEXT = new RegExp(`^${TIME}${ZONE}$`);
const TIMESTAMP_TEXT = new RegExp(`^(?:\\d{4,}-\\d{2}-\\d{2}(?:[Tt ]${TIME}${ZONE})?|-?infinity)$`);
const BASE64_TEXT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function intFromText(kind: ColumnKind, s: string): string | Invalid {
  if (!INT_TEXT.test(s)) return new Invalid(`expected ${EXPECTED[kind]}`);
  if (kind !== 'int8' || s.length < 16) return intFromNumber(kind, Number(s));
  const n = BigInt(s);
  return n < INT8_MIN || n > INT8_MAX ? new Invalid('out of range for int8') : n.toString();
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
function convert(col: ColumnInfo, v: unknown): string | null | Invalid {
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

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

class Compiled implements TableValidator {
  private readonly pk: readonly ColumnInfo[];
  private readonly pkIndex: ReadonlyMap<string, number>;
  /** NOT NULL, no default, not generated: must be present on insert. */
  private readonly required: readonly ColumnInfo[];
  /** Key columns an upsert needs beyond `required` (those with a default or generated). */
  private readonly upsertNeeds: readonly ColumnInfo[];

  constructor(readonly table: TableInfo) {
    this.pk = table.primaryKey;
    this.pkIndex = new Map(table.primaryKey.map((c, i) => [c.name, i]));
    this.required = table.columns.filter((c) => c.notNull && !c.hasDefault && !c.generatedAlways);
    this.upsertNeeds = this.pk.filter((c) => !this.required.includes(c));
  }

  insert(input: unknown, at: string, errors: FieldError[]): TextRow | null {
    return this.row(input, at, errors, false);
  }

  upsert(input: unknown, at: string, errors: FieldError[]): TextRow | null {
    return this.row(input, at, errors, true);
  }

  private row(input: unknown, at: string, errors: FieldError[], upsert: boolean): TextRow | null {
    if (!isObject(input)) {
      errors.push({ pointer: at, detail: 'a row must be a JSON object' });
      return null;
    }
    const before = errors.length;
    // Null prototype: a column named "__proto__" stays an ordinary key.
    const out: TextRow = Object.create(null) as TextRow;
    for (const name in input) {
      const col = this.table.byName.get(name);
      if (col === undefined) {
        errors.push({ pointer: `${at}/${pointerToken(name)}`, detail: 'unknown column' });
        continue;
      }
      if (col.generatedAlways) {
        errors.push({ pointer: `${at}/${pointerToken(name)}`, detail: 'column is GENERATED ALWAYS and cannot be written' });
        continue;
      }
      const v = convert(col, input[name]);
      if (v instanceof Invalid) errors.push({ pointer: `${at}/${pointerToken(name)}`, detail: v.detail });
      else if (v === null && col.notNull) errors.push({ pointer: `${at}/${pointerToken(name)}`, detail: 'column is NOT NULL' });
      else out[name] = v;
    }
    for (const col of this.required) {
      if (input[col.name] === undefined) errors.push({ pointer: `${at}/${pointerToken(col.name)}`, detail: 'required column is missing (NOT NULL without a default)' });
    }
    if (upsert) {
      for (const col of this.upsertNeeds) {
        if (input[col.name] === undefined) errors.push({ pointer: `${at}/${pointerToken(col.name)}`, detail: 'an upsert needs every primary-key column' });
      }
    }
    return errors.length === before ? out : null;
  }

  update(input: unknown, at: string, errors: FieldError[], key: readonly string[]): TextRow | null {
    if (!isObject(input)) {
      errors.push({ pointer: at, detail: 'the changes must be a JSON object' });
      return null;
    }
    const before = errors.length;
    const out: TextRow = Object.create(null) as TextRow;
    let n = 0;
    for (const name in input) {
      const col = this.table.byName.get(name);
      const problem = col === undefined ? 'unknown column' : this.setValue(col, input[name], key, out);
      if (problem === undefined) n++;
      else if (problem !== '') errors.push({ pointer: `${at}/${pointerToken(name)}`, detail: problem });
    }
    if (n === 0 && errors.length === before) errors.push({ pointer: at, detail: 'nothing to update: give at least one non-key column' });
    return errors.length === before ? out : null;
  }

  /** Put one SET value into `out`: undefined when set, '' when skipped (an unchanged key column), else the problem. */
  private setValue(col: ColumnInfo, input: unknown, key: readonly string[], out: TextRow): string | undefined {
    if (col.generatedAlways) return 'column is GENERATED ALWAYS and cannot be written';
    const v = convert(col, input);
    if (v instanceof Invalid) return v.detail;
    const i = this.pkIndex.get(col.name);
    // Repeating the key is harmless; changing it would move the row to another partition.
    if (i !== undefined) return v === key[i] ? '' : 'primary-key columns cannot be changed';
    if (v === null && col.notNull) return 'column is NOT NULL';
    out[col.name] = v;
    return undefined;
  }

  parseKey(raw: string, at: string, errors: FieldError[]): string[] | null {
    // One-column keys take the whole segment, so a text key may contain a literal comma.
    const parts = this.pk.length === 1 ? [raw] : raw.split(',');
    if (parts.length !== this.pk.length) {
      errors.push({ pointer: at, detail: `expected ${this.pk.length} comma-separated key values (${this.pk.map((c) => c.name).join(',')})` });
      return null;
    }
    const decoded: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      try {
        decoded.push(decodeURIComponent(parts[i]!));
      } catch {
        errors.push({ pointer: `${at}/${i}`, detail: 'malformed percent-encoding' });
        return null;
      }
    }
    return this.keyValues(decoded, at, errors);
  }

  keyFromJson(input: unknown, at: string, errors: FieldError[]): string[] | null {
    if (Array.isArray(input)) {
      if (input.length === this.pk.length) return this.keyValues(input, at, errors);
    } else if (isObject(input)) {
      const extra = Object.keys(input).find((k) => !this.pkIndex.has(k));
      if (extra !== undefined) {
        errors.push({ pointer: `${at}/${pointerToken(extra)}`, detail: 'not a primary-key column' });
        return null;
      }
      const before = errors.length;
      const key = this.pk.map((c) => this.keyPart(c, input[c.name], `${at}/${pointerToken(c.name)}`, errors));
      return errors.length === before ? (key as string[]) : null;
    } else if (this.pk.length === 1 && input !== undefined) {
      return this.keyValues([input], at, errors, false);
    }
    errors.push({ pointer: at, detail: `expected the primary key: [${this.pk.map((c) => c.name).join(', ')}] in key order, or an object of those columns` });
    return null;
  }

  keyOfRow(row: TextRow): string[] | null {
    const key: string[] = [];
    for (const col of this.pk) {
      const v = row[col.name];
      if (v === undefined || v === null) return null;
      key.push(v);
    }
    return key;
  }

  private keyValues(values: readonly unknown[], at: string, errors: FieldError[], indexed = true): string[] | null {
    const before = errors.length;
    const key = values.map((v, i) => this.keyPart(this.pk[i]!, v, indexed ? `${at}/${i}` : at, errors));
    return errors.length === before ? (key as string[]) : null;
  }

  private keyPart(col: ColumnInfo, v: unknown, at: string, errors: FieldError[]): string | null {
    if (v === undefined || v === null) {
      errors.push({ pointer: at, detail: `key column ${col.name} is missing` });
      return null;
    }
    const out = convert(col, v);
    if (out instanceof Invalid) {
      errors.push({ pointer: at, detail: `${col.name}: ${out.detail}` });
      return null;
    }
    return out;
  }
}

/** Compile the validator of one table; call once per table at start, reuse for every request. */
export function compileValidator(table: TableInfo): TableValidator {
  return new Compiled(table);
}

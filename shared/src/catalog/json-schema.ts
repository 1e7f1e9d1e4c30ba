import type { ColumnInfo, ColumnKind, TableInfo } from './types.ts';
import { BASE64_TEXT, DATE_TEXT, EXPECTED, INT_RANGE, INT_TEXT_RANGE, NUMERIC_TEXT, TIME_TEXT, TIMESTAMP_TEXT, UUID_TEXT } from './values.ts';

/**
 * JSON Schemas (2020-12, the dialect of OpenAPI 3.1) of the catalog's tables,
 * built from the same expressions and ranges the validator runs (values.ts):
 * what a write accepts (`insertSchema`, `updateSchema`) and what a read
 * returns (`rowSchema`, the shapes of `row_to_json`). json-schema.test.ts
 * runs every column kind, with valid and invalid values, through both the
 * validator and a JSON Schema validator and requires the same verdict.
 */

/** A JSON Schema object. */
export type Schema = Record<string, unknown>;

/** Where `jsonValueSchema` is expected in the document (the write schemas of json columns refer to it). */
export const JSON_VALUE_REF = '#/components/schemas/JsonValue';
/** Where `jsonWithNulSchema` is expected: what JsonValue excludes. */
export const JSON_WITH_NUL_REF = '#/components/schemas/JsonWithNul';

/** Postgres text and json cannot hold U+0000 (SQLSTATE 22021 / 22P05); the validator refuses it. */
const NO_NUL = '^[^\\u0000]*$';

/** A regular expression (ECMA-262) of the digits of the integers 0…max, without leading zeros. */
export function digitsUpTo(max: bigint): string {
  const d = max.toString();
  const alts = ['0'];
  if (d.length > 1) alts.push(d.length === 2 ? '[1-9]' : `[1-9]\\d{0,${d.length - 2}}`);
  for (let i = 0; i < d.length; i++) {
    const lo = i === 0 ? 1 : 0;
    const hi = Number(d[i]) - (i < d.length - 1 ? 1 : 0);
    if (hi < lo) continue;
    const rest = d.length - i - 1;
    alts.push(`${d.slice(0, i)}${lo === hi ? String(lo) : `[${lo}-${hi}]`}${rest === 0 ? '' : rest === 1 ? '\\d' : `\\d{${rest}}`}`);
  }
  return `(?:${[...new Set(alts)].join('|')})`;
}

/** The strings of digits the validator takes for an integer kind: at most 19 digits, leading zeros allowed, within the type's range. */
function intTextPattern(kind: ColumnKind): string {
  const [min, max] = INT_TEXT_RANGE[kind]!;
  return `^(?=[+-]?\\d{1,19}$)(?:\\+?0*${digitsUpTo(max)}|-0*${digitsUpTo(-min)})$`;
}

const text = (re: RegExp) => ({ type: 'string', pattern: re.source });

/**
 * A form the validator accepts that a client has no reason to send (a JSON
 * number or boolean says the same): `deprecated` (JSON Schema's annotation),
 * which typed clients leave out of their types.
 */
const LENIENT = { deprecated: true, description: 'also accepted; send the JSON value instead' };

function intSchema(kind: ColumnKind): Schema {
  const [minimum, maximum] = INT_RANGE[kind]!;
  // int8 beyond ±2^53 has only the string form; int2/int4 fit a JSON number.
  const digits = { type: 'string', pattern: intTextPattern(kind), ...(kind === 'int8' ? { description: 'beyond ±2^53: a string of digits' } : LENIENT) };
  return { oneOf: [{ type: 'integer', minimum, maximum }, digits] };
}

/** What a write may send for a non-null value of each kind (convert() in values.ts). */
function kindSchema(col: ColumnInfo): Schema {
  switch (col.kind) {
    case 'bool': return { oneOf: [{ type: 'boolean' }, { type: 'string', enum: ['true', 'false'], ...LENIENT }] };
    case 'int2': case 'int4': case 'int8': return intSchema(col.kind);
    case 'float': case 'numeric': return { oneOf: [{ type: 'number' }, text(NUMERIC_TEXT)] };
    case 'text': return { type: 'string', pattern: NO_NUL, ...(col.maxLength !== undefined ? { maxLength: col.maxLength } : {}) };
    case 'uuid': return { ...text(UUID_TEXT), format: 'uuid' };
    case 'json': return { $ref: JSON_VALUE_REF, not: { type: 'null' } };
    case 'timestamp': return text(TIMESTAMP_TEXT);
    case 'date': return text(DATE_TEXT);
    case 'time': return text(TIME_TEXT);
    case 'bytea': return { ...text(BASE64_TEXT), contentEncoding: 'base64' };
    case 'unsupported': return { not: {} };
  }
}

/** The schema of one column's value in a write: its kind, or null where the column allows NULL. */
export function writeSchemaOf(col: ColumnInfo): Schema {
  const description = `${col.type}: ${EXPECTED[col.kind]}`;
  const base = kindSchema(col);
  return col.notNull ? { ...base, description } : { anyOf: [base, { type: 'null' }], description };
}

/**
 * Any JSON value without U+0000 in a string or a member name: what a json or
 * jsonb column takes. Said as "not one that holds a NUL somewhere"
 * (`jsonWithNulSchema`): a recursive union of arrays of itself would be
 * the direct spelling, but generated TypeScript types cannot declare it
 * (openapi-typescript's output fails with TS2502).
 */
export function jsonValueSchema(): Schema {
  return { description: 'Any JSON value; no string or member name may contain U+0000 (Postgres json cannot store it)', not: { $ref: JSON_WITH_NUL_REF } };
}

/** A JSON value holding U+0000 in some string or member name, at any depth. */
export function jsonWithNulSchema(): Schema {
  return {
    description: 'A JSON value with U+0000 in a string or a member name, at any depth (what JsonValue excludes)',
    anyOf: [
      { type: 'string', not: { pattern: NO_NUL } },
      { type: 'array', contains: { $ref: JSON_WITH_NUL_REF } },
      { type: 'object', not: { propertyNames: { pattern: NO_NUL } } },
      { type: 'object', not: { additionalProperties: { not: { $ref: JSON_WITH_NUL_REF } } } },
    ],
  };
}

/** What `row_to_json` renders for each kind (reads, and rows a write returns). */
function readKindSchema(col: ColumnInfo): Schema {
  const nonFinite = { type: 'string', enum: ['NaN', 'Infinity', '-Infinity'] };
  switch (col.kind) {
    case 'bool': return { type: 'boolean' };
    case 'int2': case 'int4': case 'int8': return { type: 'integer' };
    case 'float': case 'numeric': return { anyOf: [{ type: 'number' }, nonFinite] };
    case 'text': return { type: 'string' };
    case 'uuid': return { type: 'string', format: 'uuid' };
    case 'json': return {};
    case 'timestamp': return { type: 'string', description: 'ISO 8601 (2025-01-31T12:00:00+00:00), or infinity / -infinity' };
    case 'date': return { type: 'string', description: 'YYYY-MM-DD, or infinity / -infinity' };
    case 'time': return { type: 'string', description: 'HH:MM:SS[.ffffff][+HH:MM]' };
    case 'bytea': return { type: 'string', description: 'hex: \\x0123…' };
    case 'unsupported': return { description: 'as Postgres renders it in JSON' };
  }
}

/** Schema-object names of a table (`billing.in voices` → `billing.in_voices`), as the client generator expects them. */
export function schemaName(table: string): string {
  return table.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** A row as reads return it (every column; GENERATED ALWAYS ones `readOnly`). */
export function rowSchema(t: TableInfo): Schema {
  const properties: Record<string, Schema> = {};
  for (const c of t.columns) {
    const base = readKindSchema(c);
    // json and unsupported columns read as any value, null included.
    const any = c.kind === 'json' || c.kind === 'unsupported';
    const s = c.notNull || any ? base : { anyOf: [base, { type: 'null' }] };
    properties[c.name] = { ...s, description: c.type, ...(c.generatedAlways ? { readOnly: true } : {}) };
  }
  return { type: 'object', 'x-sluice-table': t.name, required: t.columns.map((c) => c.name), properties };
}

function writableProperties(t: TableInfo): Record<string, Schema> {
  const properties: Record<string, Schema> = {};
  for (const c of t.columns) if (!c.generatedAlways) properties[c.name] = writeSchemaOf(c);
  return properties;
}

/** A row an insert takes: NOT NULL columns without a default required, no GENERATED ALWAYS column, nothing unknown. */
export function insertSchema(t: TableInfo): Schema {
  const required = t.columns.filter((c) => c.notNull && !c.hasDefault && !c.generatedAlways).map((c) => c.name);
  return {
    type: 'object',
    'x-sluice-table': t.name,
    description: `A row of ${t.name} to insert; an upsert (Prefer: resolution=merge-duplicates or ignore-duplicates) also needs every primary-key column (${t.primaryKey.map((c) => c.name).join(', ')})`,
    additionalProperties: false,
    properties: writableProperties(t),
    ...(required.length > 0 ? { required } : {}),
  };
}

/** The changes an update takes: any writable columns, at least one; key columns may only repeat the row's key. */
export function updateSchema(t: TableInfo): Schema {
  return {
    type: 'object',
    'x-sluice-table': t.name,
    description: `Columns of ${t.name} to set; primary-key columns (${t.primaryKey.map((c) => c.name).join(', ')}) may only repeat the row's current value`,
    additionalProperties: false,
    minProperties: 1,
    properties: writableProperties(t),
  };
}

/**
 * `pnpm sluice types`: TypeScript row types of the exposed tables, from the
 * gateway's OpenAPI document: `components.schemas.Row_<table>` (what reads
 * return), `Insert_<table>` and `Update_<table>` (what the gateway's
 * validator accepts; a document without them: `Row_<table>` for all three).
 * Per table it writes `<T>Row` (every column, nullable ones `| null`,
 * GENERATED ALWAYS ones included), `<T>Insert` (required = NOT NULL without a
 * default; no readOnly column) and `<T>Update`, and one `Tables` map for
 * `new SluiceClient<Tables>(…)`. Pure: document in, source text out.
 */

type Schema = Record<string, unknown>;
type Mode = 'read' | 'write';

/** One table found in the document. */
export interface TableSchema {
  /** The name the API uses (`events`, `billing.invoices`). */
  table: string;
  /** `Row_<table>`: a row as read. */
  schema: Schema;
  /** `Insert_<table>` and `Update_<table>` when the document has them. */
  insert?: Schema;
  update?: Schema;
}

const isObj = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every `enum` of a parameter named `table`, anywhere in the document: the exposed tables' real names. */
function tableNames(doc: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(doc)) for (const x of doc) tableNames(x, out);
  else if (isObj(doc)) {
    if (doc.name === 'table' && isObj(doc.schema) && Array.isArray(doc.schema.enum)) for (const t of doc.schema.enum) if (typeof t === 'string') out.add(t);
    for (const v of Object.values(doc)) tableNames(v, out);
  }
  return out;
}

/** The row schemas of a document, with their tables' names (the gateway sanitises names into schema keys). */
export function rowSchemas(doc: unknown): TableSchema[] {
  const schemas = isObj(doc) && isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  const bySanitised = new Map([...tableNames(doc)].map((t) => [t.replace(/[^A-Za-z0-9_.-]/g, '_'), t]));
  const out: TableSchema[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    if (!name.startsWith('Row_') || !isObj(schema)) continue;
    const suffix = name.slice(4);
    const table = typeof schema['x-sluice-table'] === 'string' ? schema['x-sluice-table'] : (bySanitised.get(suffix) ?? suffix);
    const insert = schemas[`Insert_${suffix}`];
    const update = schemas[`Update_${suffix}`];
    out.push({ table, schema, ...(isObj(insert) ? { insert } : {}), ...(isObj(update) ? { update } : {}) });
  }
  return out.sort((a, b) => a.table.localeCompare(b.table));
}

function resolve(s: Schema, defs: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/components/schemas/')) return s;
  const target = defs[ref.slice('#/components/schemas/'.length)];
  return isObj(target) ? target : {};
}

const union = (xs: string[]) => [...new Set(xs)].join(' | ') || 'never';
const isNumeric = (s: unknown) => isObj(s) && (s.type === 'integer' || s.type === 'number');

/** The TypeScript type of a JSON Schema (the subset the gateway writes). */
export function tsType(input: unknown, mode: Mode, defs: Schema = {}): string {
  if (!isObj(input)) return 'unknown';
  // The document's recursive any-JSON schema (json and jsonb columns in writes).
  if (typeof input.$ref === 'string' && input.$ref.endsWith('/JsonValue')) return 'JsonValue';
  const s = resolve(input, defs);
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return union(s.enum.map((v) => JSON.stringify(v)));
  const all = (Array.isArray(s.oneOf) ? s.oneOf : Array.isArray(s.anyOf) ? s.anyOf : undefined) as unknown[] | undefined;
  // Forms the gateway accepts but a typed client need not send (`deprecated`, e.g. "7" for an int4).
  const kept = all?.filter((a) => !(isObj(a) && a.deprecated === true));
  const alts = kept !== undefined && kept.length > 0 ? kept : all;
  if (alts !== undefined) {
    // int8 and numeric accept a number or a string of digits; row_to_json renders both as numbers.
    if (mode === 'read' && alts.length === 2 && isNumeric(alts[0]) && isObj(alts[1]) && alts[1].type === 'string') return 'number';
    return union(alts.map((a) => tsType(a, mode, defs)));
  }
  if (isObj(s.not)) return mode === 'read' ? 'unknown' : 'never';
  if (Array.isArray(s.type)) return union(s.type.map((t) => tsType({ ...s, type: t }, mode, defs)));
  switch (s.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `${wrap(tsType(s.items, mode, defs))}[]`;
    case 'object':
      return isObj(s.properties) ? objectType(s, mode, defs, 'row') : 'Record<string, JsonValue>';
    case undefined:
      return 'JsonValue'; // {} : any JSON (json/jsonb columns)
    default:
      return 'unknown';
  }
}

const wrap = (t: string) => (/[|&]/.test(t) ? `(${t})` : t);
const propName = (p: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p) ? p : JSON.stringify(p));

/** An object type: `row` = every property present; `insert` = required ones required; `update` = all optional. */
function objectType(s: Schema, mode: Mode, defs: Schema, shape: 'row' | 'insert' | 'update', indent = ''): string {
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const lines: string[] = [];
  for (const [name, p] of Object.entries(props)) {
    const readOnly = isObj(p) && p.readOnly === true;
    if (readOnly && shape !== 'row') continue;
    const optional = shape === 'update' || (shape === 'insert' && !required.has(name));
    const doc = isObj(p) && typeof p.description === 'string' ? `${indent}  /** ${p.description.replace(/\*\//g, '* /')} */\n` : '';
    lines.push(`${doc}${indent}  ${propName(name)}${optional ? '?' : ''}: ${tsType(p, mode, defs)};`);
  }
  return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('\n')}\n${indent}}`;
}

/** `billing.invoices` → `BillingInvoices`; unique among `taken`. */
function typeName(table: string, taken: Set<string>): string {
  let base = table
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
  if (!/^[A-Za-z]/.test(base)) base = `T${base}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}${i}`;
  taken.add(name);
  return name;
}

/** The generated module's source. */
export function generateTypes(doc: unknown, source: string): string {
  const defs = isObj(doc) && isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  const tables = rowSchemas(doc);
  const taken = new Set<string>(['Tables', 'JsonValue']);
  const out: string[] = [
    `// Generated by \`pnpm sluice types\` from ${source}. Do not edit: run it again after a schema change.`,
    '',
    '/** Any JSON value (json and jsonb columns). */',
    'export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };',
  ];
  const entries: string[] = [];
  for (const { table, schema, insert, update } of tables) {
    const n = typeName(table, taken);
    out.push('', `/** A row of \`${table}\` as reads return it. */`, `export interface ${n}Row ${objectType(schema, 'read', defs, 'row')}`);
    out.push('', `/** What an insert or upsert of \`${table}\` takes. */`, `export interface ${n}Insert ${objectType(insert ?? schema, 'write', defs, 'insert')}`);
    out.push('', `/** What an update of \`${table}\` takes. */`, `export interface ${n}Update ${objectType(update ?? schema, 'write', defs, 'update')}`);
    entries.push(`  ${propName(table)}: { row: ${n}Row; insert: ${n}Insert; update: ${n}Update };`);
  }
  out.push('', '/** The exposed tables: `new SluiceClient<Tables>({ url })`. */', `export type Tables = {\n${entries.join('\n')}\n};`, '');
  return out.join('\n');
}

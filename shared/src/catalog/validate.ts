import type { FieldError } from '../errors/index.ts';
import type { ColumnInfo, TableInfo } from './types.ts';
import { convert, Invalid } from './values.ts';

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

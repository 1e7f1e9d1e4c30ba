/**
 * The OpenAPI document's column schemas and the validator are one source of
 * truth: every column kind the catalog supports, with values the validator
 * accepts and values it refuses, gets the same verdict from a JSON Schema
 * validator (Ajv, 2020-12) over `writeSchemaOf`; rows likewise over
 * `insertSchema` and the compiled validator's insert.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../errors/index.ts';
import { quoteIdent } from '../sql/ident.ts';
import { digitsUpTo, insertSchema, jsonValueSchema, jsonWithNulSchema, rowSchema, updateSchema, writeSchemaOf, type Schema } from './json-schema.ts';
import type { ColumnInfo, ColumnKind, TableInfo } from './types.ts';
import { compileValidator } from './validate.ts';
import { convert, Invalid } from './values.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

function ajv(): Ajv2020 {
  const a = new Ajv2020({ strict: true, allErrors: true });
  addFormats(a);
  a.addKeyword('x-sluice-table');
  a.addKeyword('components'); // the document's container of JsonValue below
  a.addSchema({ $id: 'doc', components: { schemas: { JsonValue: jsonValueSchema(), JsonWithNul: jsonWithNulSchema() } } });
  return a;
}

/** Compile a schema written with `#/components/…` references against the document above. */
function compile(a: Ajv2020, schema: Schema) {
  const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"doc#/components/')) as Schema;
  return a.compile(rebased);
}

function column(kind: ColumnKind, o: Partial<ColumnInfo> = {}): ColumnInfo {
  return { name: 'c', quoted: '"c"', type: kind, castType: kind, kind, notNull: false, hasDefault: false, generatedAlways: false, ...o };
}

const NUL = 'a\u0000b';

/** Values worth trying per kind: each is run through both validators, which must agree. */
const SAMPLES: Record<ColumnKind, unknown[]> = {
  bool: [true, false, 'true', 'false', 'TRUE', 't', 1, 0, '', null, [], {}],
  int2: [0, -0, 1, -32768, 32767, 32768, -32769, 1.5, 1e300, '0', '-0', '+5', '007', '32767', '32768', '-32768', '-32769', '0000000000000032767', '00000000000000032767', '1.0', ' 1', '1e3', '', 'x', true, null, [1]],
  int4: [2147483647, -2147483648, 2147483648, -2147483649, '2147483647', '2147483648', '-2147483648', '-2147483649', '+2147483647', '0000000002147483647', '3000000000', 12.25],
  int8: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 53), '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '+9223372036854775807', '12345678901234567', '99999999999999999999', '1234567890123456', '-', '+'],
  float: [0, 1.5, -2e-9, 1e308, '1.5', '-.5', '1.', '1e5', '1E+06', 'NaN', 'Infinity', '-Infinity', '+Infinity', 'nan', 'inf', '1e1234567', '0x10', '', true, null],
  numeric: [12.345, '12.345', '123456789012345678901234567890.5', 'NaN', '1,5', ' 1', [1.5]],
  text: ['', 'hello', 'é🙂', NUL, 5, false, null, {}, []],
  uuid: ['0b2c5b3e-8f4a-4c1e-9d1a-1a2b3c4d5e6f', '0B2C5B3E-8F4A-4C1E-9D1A-1A2B3C4D5E6F', 'urn:uuid:0b2c5b3e-8f4a-4c1e-9d1a-1a2b3c4d5e6f', '0b2c5b3e8f4a4c1e9d1a1a2b3c4d5e6f', '{0b2c5b3e-8f4a-4c1e-9d1a-1a2b3c4d5e6f}', '', 7, null],
  json: [{}, { a: [1, 'x', null, true] }, [], 'text', 0, true, { [NUL]: 1 }, { a: NUL }, [[NUL]], NUL, { a: { b: { c: 'deep' } } }, { a: [{ b: [NUL] }] }, [{ [NUL]: [] }], null],
  timestamp: ['2025-01-31T12:00:00Z', '2025-01-31 12:00:00.123456+02:00', '2025-01-31t12:00', '2025-01-31', '12025-01-31T00:00:00-0530', 'infinity', '-infinity', '2025-1-31', '2025-01-31T12', '2025-01-31T12:00:00.1234567Z', 'now', 1738324800, null],
  date: ['2025-01-31', '99999-12-31', 'infinity', '-infinity', '2025-01-31T00:00:00Z', '31/01/2025', '', 20250131, null],
  time: ['12:00', '12:00:00', '12:00:00.5', '23:59:59.999999+05:30', '12:00Z', '12:00:00-0800', '12', '12:00:00.1234567', '1:00', 'noon', null],
  bytea: ['', 'AAEC', 'AAE=', 'AA==', 'AAECAw==', 'AAE', 'A===', 'AA-_', '\\x0102', 'YW Jj', 12, null],
  unsupported: ['(1,2)', 1, {}, null],
};

describe('column schemas and the validator agree', () => {
  const a = ajv();
  const variants: [string, Partial<ColumnInfo>][] = [
    ['nullable', {}],
    ['NOT NULL', { notNull: true }],
  ];
  for (const kind of Object.keys(SAMPLES) as ColumnKind[]) {
    for (const [label, o] of variants) {
      it(`${kind}, ${label}`, () => {
        const col = column(kind, o);
        const check = compile(a, writeSchemaOf(col));
        for (const v of SAMPLES[kind]) {
          const converted = convert(col, v);
          const accepted = !(converted instanceof Invalid) && !(converted === null && col.notNull);
          expect({ value: v, schema: check(v) }).toEqual({ value: v, schema: accepted });
        }
      });
    }
  }

  it('varchar(n) counts characters (code points) on both sides', () => {
    const col = column('text', { type: 'character varying(3)', maxLength: 3, notNull: true });
    const check = compile(a, writeSchemaOf(col));
    for (const v of ['abc', 'abcd', '🙂🙂🙂', '🙂🙂🙂🙂', 'éé', '']) {
      expect({ value: v, schema: check(v) }).toEqual({ value: v, schema: !(convert(col, v) instanceof Invalid) });
    }
  });
});

describe('digitsUpTo', () => {
  it('matches exactly the integers 0…max without leading zeros', () => {
    for (const max of [0, 7, 9, 10, 19, 20, 99, 100, 101, 109, 200, 305, 999, 1000, 32767]) {
      const re = new RegExp(`^${digitsUpTo(BigInt(max))}$`, 'u');
      for (let n = 0; n <= Math.max(1100, max + 100); n++) expect([n, re.test(String(n))]).toEqual([n, n <= max]);
      expect(re.test('01')).toBe(false);
    }
  });
});

function table(): TableInfo {
  const cols: ColumnInfo[] = [
    { ...column('int8', { notNull: true, hasDefault: true }), name: 'id', quoted: quoteIdent('id') },
    { ...column('text', { notNull: true, maxLength: 5, type: 'character varying(5)' }), name: 'kind', quoted: quoteIdent('kind') },
    { ...column('int4', { notNull: true, hasDefault: true }), name: 'amount', quoted: quoteIdent('amount') },
    { ...column('json'), name: 'payload', quoted: quoteIdent('payload') },
    { ...column('int4', { generatedAlways: true, hasDefault: true }), name: 'total', quoted: quoteIdent('total') },
  ];
  const byName = new Map(cols.map((c) => [c.name, c]));
  return { name: 'events', schema: 'public', table: 'events', qualified: '"public"."events"', columns: cols, byName, primaryKey: [byName.get('id')!] };
}

describe('row schemas and the validator agree', () => {
  const a = ajv();
  const t = table();
  const v = compileValidator(t);

  it('inserts: required, unknown and GENERATED ALWAYS columns, values', () => {
    const check = compile(a, insertSchema(t));
    const rows: unknown[] = [{ kind: 'a' }, { kind: 'a', id: '12', amount: 3, payload: { x: 1 } }, {}, { kind: 'abcdef' }, { kind: 'a', nope: 1 }, { kind: 'a', total: 3 }, { kind: null }, { kind: 'a', payload: null }, { kind: 'a', amount: null }, [], 'row', null];
    for (const row of rows) {
      const errors: FieldError[] = [];
      expect({ row, schema: check(row) }).toEqual({ row, schema: v.insert(row, '', errors) !== null });
    }
  });

  it('updates: at least one column, none unknown or generated', () => {
    const check = compile(a, updateSchema(t));
    for (const row of [{ kind: 'b' }, { amount: 1, payload: [] }, {}, { nope: 1 }, { total: 1 }, { kind: 'toolong' }]) {
      const errors: FieldError[] = [];
      expect({ row, schema: check(row) }).toEqual({ row, schema: v.update(row, '', errors, ['1']) !== null });
    }
  });

  it('rows as read: every column, GENERATED ALWAYS ones readOnly', () => {
    const s = rowSchema(t);
    expect(s.required).toEqual(['id', 'kind', 'amount', 'payload', 'total']);
    expect((s.properties as Record<string, Schema>).total).toMatchObject({ readOnly: true });
    const check = compile(a, s);
    expect(check({ id: 1, kind: 'a', amount: 0, payload: null, total: null })).toBe(true);
    expect(check({ id: '1', kind: 'a', amount: 0, payload: null, total: null })).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import type { FieldError } from '../errors/index.ts';
import { quoteIdent } from '../sql/ident.ts';
import type { ColumnInfo, ColumnKind, TableInfo } from './types.ts';
import { compileValidator, pointerToken } from './validate.ts';

type Col = Partial<ColumnInfo> & { name: string; kind: ColumnKind };

function column(c: Col): ColumnInfo {
  return { quoted: quoteIdent(c.name), type: c.kind, castType: c.kind, notNull: false, hasDefault: false, generatedAlways: false, ...c };
}

function table(name: string, cols: Col[], pk: string[]): TableInfo {
  const columns = cols.map(column);
  const byName = new Map(columns.map((c) => [c.name, c]));
  return { name, schema: 'public', table: name, qualified: `"public".${quoteIdent(name)}`, columns, byName, primaryKey: pk.map((n) => byName.get(n)!) };
}

const events = compileValidator(
  table(
    'events',
    [
      { name: 'id', kind: 'int8', notNull: true, hasDefault: true },
      { name: 'kind', kind: 'text', type: 'character varying(5)', maxLength: 5, notNull: true },
      { name: 'amount', kind: 'int4', notNull: true },
      { name: 'small', kind: 'int2' },
      { name: 'big', kind: 'int8' },
      { name: 'price', kind: 'numeric' },
      { name: 'ratio', kind: 'float' },
      { name: 'ok', kind: 'bool' },
      { name: 'ref', kind: 'uuid' },
      { name: 'payload', kind: 'json' },
      { name: 'at', kind: 'timestamp' },
      { name: 'day', kind: 'date' },
      { name: 'tm', kind: 'time' },
      { name: 'blob', kind: 'bytea' },
      { name: 'note', kind: 'text' },
      { name: 'total', kind: 'int4', generatedAlways: true, hasDefault: true },
      { name: 'geom', kind: 'unsupported', type: 'point' },
    ],
    ['id'],
  ),
);

const pairs = compileValidator(
  table(
    'pairs',
    [
      { name: 'tenant', kind: 'text', notNull: true },
      { name: 'seq', kind: 'int4', notNull: true },
      { name: 'value', kind: 'text' },
    ],
    ['tenant', 'seq'],
  ),
);

function run<T>(fn: (errors: FieldError[]) => T): { out: T; errors: FieldError[] } {
  const errors: FieldError[] = [];
  return { out: fn(errors), errors };
}

describe('compileValidator insert', () => {
  it('turns every supported JSON value into Postgres text', () => {
    const { out, errors } = run((e) =>
      events.insert(
        {
          kind: 'view', amount: -0, small: 7, big: '9223372036854775807', price: '12345678901234567890.123', ratio: 0.5,
          ok: true, ref: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', payload: { a: [1, 'x'] }, at: '2024-05-01T10:00:00.5+02:00',
          day: '2024-05-01', tm: '10:00', blob: 'AAEC/w==', note: null,
        },
        '',
        e,
      ),
    );
    expect(errors).toEqual([]);
    expect({ ...out }).toEqual({
      kind: 'view', amount: '0', small: '7', big: '9223372036854775807', price: '12345678901234567890.123', ratio: '0.5',
      ok: 'true', ref: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', payload: '{"a":[1,"x"]}', at: '2024-05-01T10:00:00.5+02:00',
      day: '2024-05-01', tm: '10:00', blob: '\\x000102ff', note: null,
    });
  });

  it('reports every problem with a JSON Pointer under the given prefix', () => {
    const { out, errors } = run((e) =>
      events.insert({ kind: 'toolong', amount: 1.5, bogus: 1, 'a/b~c': 2, total: 3, geom: '(1,2)' }, '/3', e),
    );
    expect(out).toBeNull();
    expect(errors).toEqual([
      { pointer: '/3/kind', detail: 'longer than 5 characters' },
      { pointer: '/3/amount', detail: expect.stringContaining('integer') },
      { pointer: '/3/bogus', detail: 'unknown column' },
      { pointer: '/3/a~1b~0c', detail: 'unknown column' },
      { pointer: '/3/total', detail: expect.stringContaining('GENERATED ALWAYS') },
      { pointer: '/3/geom', detail: expect.stringContaining('not supported') },
    ]);
  });

  it('requires NOT NULL columns without a default and refuses explicit nulls there', () => {
    const missing = run((e) => events.insert({ kind: 'a' }, '/ops/2/row', e));
    expect(missing.errors).toEqual([{ pointer: '/ops/2/row/amount', detail: expect.stringContaining('missing') }]);
    const nulled = run((e) => events.insert({ kind: 'a', amount: 1, id: null }, '', e));
    expect(nulled.errors).toEqual([{ pointer: '/id', detail: 'column is NOT NULL' }]);
  });

  it('checks integer ranges and int8 beyond 2^53 as digit strings only', () => {
    const bad = run((e) => events.insert({ kind: 'a', amount: 2 ** 31, small: -32769, big: 2 ** 53 }, '', e));
    expect(bad.errors.map((x) => x.pointer)).toEqual(['/amount', '/small', '/big']);
    expect(run((e) => events.insert({ kind: 'a', amount: 1, big: '9223372036854775808' }, '', e)).errors).toEqual([
      { pointer: '/big', detail: 'out of range for int8' },
    ]);
    const ok = run((e) => events.insert({ kind: 'a', amount: '-2147483648', big: '+007' }, '', e));
    expect(ok.errors).toEqual([]);
    expect(ok.out).toMatchObject({ amount: '-2147483648', big: '7' });
  });

  it('refuses NUL characters in text and json, and wrong JSON types', () => {
    const { errors } = run((e) =>
      events.insert({ kind: 'a\u0000', amount: 1, payload: { k: ['x\u0000'] }, note: 5, ok: 'yes', ref: 'nope', price: 'abc', at: 'yesterday', blob: 'not base64!', day: 20240501 }, '', e),
    );
    expect(errors.map((x) => x.pointer)).toEqual(['/kind', '/payload', '/note', '/ok', '/ref', '/price', '/at', '/blob', '/day']);
    expect(errors[0]!.detail).toContain('NUL');
    expect(errors[1]!.detail).toContain('NUL');
  });

  it('keeps a literal backslash-u0000 text inside json (not a NUL)', () => {
    const { out, errors } = run((e) => events.insert({ kind: 'a', amount: 1, payload: { s: '\\u0000' } }, '', e));
    expect(errors).toEqual([]);
    expect(out?.payload).toBe('{"s":"\\\\u0000"}');
  });

  it('counts varchar length in characters, not UTF-16 units', () => {
    expect(run((e) => events.insert({ kind: '😀😀😀😀😀', amount: 1 }, '', e)).errors).toEqual([]);
    expect(run((e) => events.insert({ kind: '😀😀😀😀😀😀', amount: 1 }, '', e)).errors).toHaveLength(1);
  });

  it('refuses a non-object row and accepts a column named __proto__ only as data', () => {
    expect(run((e) => events.insert([1], '/0', e)).errors).toEqual([{ pointer: '/0', detail: 'a row must be a JSON object' }]);
    const proto = run((e) => events.insert(JSON.parse('{"kind":"a","amount":1,"__proto__":{"x":1}}'), '', e));
    expect(proto.errors).toEqual([{ pointer: '/__proto__', detail: 'unknown column' }]);
  });
});

describe('compileValidator upsert', () => {
  it('needs every primary-key column, even one with a default', () => {
    expect(run((e) => events.upsert({ kind: 'a', amount: 1 }, '', e)).errors).toEqual([
      { pointer: '/id', detail: 'an upsert needs every primary-key column' },
    ]);
    const ok = run((e) => events.upsert({ id: 5, kind: 'a', amount: 1 }, '', e));
    expect(ok.errors).toEqual([]);
    expect(events.keyOfRow(ok.out!)).toEqual(['5']);
  });
});

describe('compileValidator update', () => {
  it('keeps only the given columns and allows repeating the key', () => {
    const { out, errors } = run((e) => events.update({ id: 5, note: 'hi', amount: 3 }, '', e, ['5']));
    expect(errors).toEqual([]);
    expect({ ...out }).toEqual({ note: 'hi', amount: '3' });
  });

  it('refuses a key change, an empty change set and NOT NULL columns set to null', () => {
    expect(run((e) => events.update({ id: 6, note: 'x' }, '', e, ['5'])).errors).toEqual([{ pointer: '/id', detail: 'primary-key columns cannot be changed' }]);
    expect(run((e) => events.update({ id: 5 }, '', e, ['5'])).errors).toEqual([{ pointer: '', detail: expect.stringContaining('nothing to update') }]);
    expect(run((e) => events.update({ amount: null }, '', e, ['5'])).errors).toEqual([{ pointer: '/amount', detail: 'column is NOT NULL' }]);
  });
});

describe('compileValidator keys', () => {
  it('parses a composite URL key, percent-decoding each value', () => {
    expect(run((e) => pairs.parseKey('acme%2C%20inc,042', '', e)).out).toEqual(['acme, inc', '42']);
  });

  it('takes the whole segment for a one-column key (a literal comma is data)', () => {
    const texts = compileValidator(table('t', [{ name: 'k', kind: 'text', notNull: true }], ['k']));
    expect(run((e) => texts.parseKey('a,b', '', e)).out).toEqual(['a,b']);
  });

  it('reports a wrong number of values, bad percent-encoding and bad values', () => {
    expect(run((e) => pairs.parseKey('acme', '', e)).errors[0]!.detail).toContain('2 comma-separated');
    expect(run((e) => pairs.parseKey('a,%E0%A4%A', '', e)).errors).toEqual([{ pointer: '/1', detail: 'malformed percent-encoding' }]);
    expect(run((e) => pairs.parseKey('a,x1', '', e)).errors).toEqual([{ pointer: '/1', detail: expect.stringContaining('seq') }]);
    expect(run((e) => events.parseKey('abc', '', e)).out).toBeNull();
  });

  it('reads JSON keys as arrays, objects or a bare value for one-column keys', () => {
    expect(run((e) => pairs.keyFromJson(['a', 1], '/k', e)).out).toEqual(['a', '1']);
    expect(run((e) => pairs.keyFromJson({ seq: '2', tenant: 'b' }, '/k', e)).out).toEqual(['b', '2']);
    expect(run((e) => events.keyFromJson(77, '/k', e)).out).toEqual(['77']);
    expect(run((e) => pairs.keyFromJson({ tenant: 'b', value: 'x' }, '/k', e)).errors).toEqual([{ pointer: '/k/value', detail: 'not a primary-key column' }]);
    expect(run((e) => pairs.keyFromJson(['a'], '/k', e)).errors[0]!.pointer).toBe('/k');
    expect(run((e) => pairs.keyFromJson({ tenant: 'b' }, '/k', e)).errors).toEqual([{ pointer: '/k/seq', detail: 'key column seq is missing' }]);
  });

  it('routes a row only when it carries the whole key', () => {
    expect(pairs.keyOfRow({ tenant: 'a', seq: '1' })).toEqual(['a', '1']);
    expect(pairs.keyOfRow({ tenant: 'a' })).toBeNull();
  });
});

describe('pointerToken', () => {
  it('escapes ~ and / (RFC 6901 §3)', () => {
    expect(pointerToken('a~/b')).toBe('a~0~1b');
    expect(pointerToken('plain')).toBe('plain');
  });
});

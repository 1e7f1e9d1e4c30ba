import { describe, expect, it } from 'vitest';
import { ValidationError } from '@sluice/shared/errors/index.ts';
import type { ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import { members, parseSelect, project } from './select.ts';

function table(names: string[]): TableInfo {
  const columns = names.map((name) => ({ name, quoted: `"${name}"`, type: 'text', castType: 'text', kind: 'text', notNull: false, hasDefault: false, generatedAlways: false }) as ColumnInfo);
  return { name: 't', schema: 'public', table: 't', qualified: '"public"."t"', columns, byName: new Map(columns.map((c) => [c.name, c])), primaryKey: [columns[0]!] };
}

describe('select= projections of row_to_json text', () => {
  const t = table(['id', 'kind', 'payload', 'my col']);

  it('slices members out of the stored text, keeping every digit and nested value', () => {
    const row = '{"id":9223372036854775807,"kind":"a\\"b,}","payload":{"x": [1, {"y": "]"}], "z": null},"my col":-1.5e-7}';
    expect([...members(row).entries()]).toEqual([
      ['id', '9223372036854775807'],
      ['kind', '"a\\"b,}"'],
      ['payload', '{"x": [1, {"y": "]"}], "z": null}'],
      ['my col', '-1.5e-7'],
    ]);
    expect(project(row, parseSelect(t, 'ident:id,"my col",payload'))).toBe('{"ident":9223372036854775807,"my col":-1.5e-7,"payload":{"x": [1, {"y": "]"}], "z": null}}');
  });

  it('passes the stored row through for * (and for every column in order)', () => {
    expect(parseSelect(t, '*')).toBeNull();
    expect(parseSelect(t, 'id,kind,payload,"my col"')).toBeNull();
    expect(parseSelect(t, '*,k:kind')).toHaveLength(5);
  });

  it('refuses embedding, casts, JSON paths, aggregates and unknown columns', () => {
    for (const bad of ['other(*)', 'id::text', 'payload->x', 'payload->>x', 'count()', '...other(*)', 'nope', 'a:nope', '']) {
      expect(() => parseSelect(t, bad)).toThrow(ValidationError);
    }
  });
});

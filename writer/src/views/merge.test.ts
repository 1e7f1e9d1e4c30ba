import { describe, expect, it } from 'vitest';
import type { Catalog, ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import { bindView } from '@sluice/shared/views/bind.ts';
import { foldedParts } from '@sluice/shared/views/fold-sql.ts';
import { loadViewParser, parseView } from '@sluice/shared/views/parse.ts';
import { addDecimal, compareDecimal, formatDecimal, mergeImages, readDecimal, roundDecimal, type SignedImage } from './merge.ts';

const dec = (s: string) => readDecimal(s, false)!;

describe('decimals read exactly', () => {
  it('reads only plain spellings, keeps the scale, adds at the larger scale', () => {
    expect(readDecimal('1e3', false)).toBeNull();
    expect(readDecimal('NaN', false)).toBeNull();
    expect(readDecimal(' 5', false)).toBeNull();
    expect(readDecimal('1.5', true)).toBeNull();
    expect(formatDecimal(dec('007.50'))).toBe('7.50');
    expect(formatDecimal(addDecimal(dec('1.50'), dec('0.5'), -1))).toBe('1.00');
    expect(formatDecimal(addDecimal(dec('0.05'), dec('0.1'), -1))).toBe('-0.05');
    expect(formatDecimal(addDecimal(dec('-0'), dec('0.000'), 1))).toBe('0.000');
    expect(compareDecimal(dec('1.5'), dec('1.50'))).toBe(0);
    expect(compareDecimal(dec('-2'), dec('-10'))).toBe(1);
  });

  it('rounds half away from zero, as numeric(p, s) stores an input', () => {
    expect(formatDecimal(roundDecimal(dec('1.555'), 2))).toBe('1.56');
    expect(formatDecimal(roundDecimal(dec('-1.555'), 2))).toBe('-1.56');
    expect(formatDecimal(roundDecimal(dec('1.554'), 2))).toBe('1.55');
    expect(formatDecimal(roundDecimal(dec('2'), 2))).toBe('2.00');
    expect(formatDecimal(roundDecimal(dec('0.5'), 0))).toBe('1');
  });
});

function column(name: string, kind: ColumnInfo['kind'], type: string, hasDefault = false): ColumnInfo {
  return { name, quoted: `"${name}"`, type, castType: type.replace(/\(.*\)/, ''), kind, notNull: false, hasDefault, generatedAlways: false };
}

describe('a batch\'s images summed per group', () => {
  const cols = [column('id', 'int8', 'bigint'), column('user_id', 'int4', 'integer'), column('kind', 'text', 'text'), column('amount', 'numeric', 'numeric(10,2)'), column('at', 'timestamp', 'timestamp with time zone', true)];
  const table: TableInfo = { name: 'ev', schema: 'public', table: 'ev', qualified: '"public"."ev"', columns: cols, byName: new Map(cols.map((c) => [c.name, c])), primaryKey: [cols[0]!] } as unknown as TableInfo;
  const catalog: Catalog = new Map([['ev', table]]);
  const bound = async () => {
    await loadViewParser();
    const spec = parseView('s', 'select user_id, count(*) as n, count(amount) as c, sum(amount) as total, max(amount) as hi, max(at) as last_at from ev where kind <> \'test\' group by user_id');
    return bindView(spec, catalog);
  };
  // view columns in table order: user_id, kind, amount, at
  const img = (sign: 1 | -1, user: string, kind: string, amount: string | null, at?: string): SignedImage => ({ sign, values: [user, kind, amount, at ?? null], given: [at !== undefined] });

  it('folds rows of one group, sign and default into one, with the partials of the aggregated column', async () => {
    const v = await bound();
    expect(foldedParts(v).map((p) => `${p.agg.name}.${p.part}`)).toEqual(['c.n', 'total.n', 'total.s', 'hi.e']);
    const m = mergeImages(v, ['at'], [img(1, '1', 'a', '1.555'), img(1, '1', 'a', '2'), img(1, '1', 'a', null), img(-1, '1', 'a', '4.25'), img(1, '2', 'a', '7')]);
    expect(m.weights).toEqual([3, -1, 1]);
    // user_id, kind travel; amount folded (NULL) where several rows merged, as is for one row.
    expect(m.values).toEqual([['1', '1', '2'], ['a', 'a', 'a'], [null, '4.25', '7'], [null, null, null]]);
    expect(m.given).toEqual([[false, false, false]]);
    // 1.555 is stored as 1.56 in numeric(10,2): the sum and the max count that.
    expect(m.parts).toEqual([['2', null, null], ['2', null, null], ['3.56', null, null], ['2.00', null, null]]);
  });

  it('keeps apart what it cannot read exactly, and given timestamps by their text', async () => {
    const v = await bound();
    const m = mergeImages(v, ['at'], [img(1, '1', 'a', '1e2'), img(1, '1', 'a', '1e2'), img(1, '1', 'a', '3'), img(1, '01', 'a', '3'), img(1, '1', 'b', '3'), img(1, '1', 'a', '3', '2026-01-01'), img(1, '1', 'a', '4', '2026-01-01')]);
    // 1e2 twice: one row of weight 2 carrying the value; 01 and b: rows of their own; the given timestamp keys its rows.
    expect(m.weights).toEqual([2, 1, 1, 1, 2]);
    expect(m.values[2]).toEqual(['1e2', '3', '3', '3', null]);
    expect(m.values[3]).toEqual([null, null, null, null, '2026-01-01']);
    expect(m.parts[2]).toEqual([null, null, null, null, '7.00']);
  });
});

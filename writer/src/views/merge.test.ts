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
  it('gives, evaluated as the fold evaluates it, the same per-group totals as the rows it merged (random batches)', async () => {
    const v = await bound();
    const parts = foldedParts(v).map((p) => `${p.agg.name}.${p.part}`);
    const at = (name: string) => parts.indexOf(name);
    // Deterministic: a failing batch can be found again.
    let seed = 7;
    const rnd = (n: number): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
    };
    const pick = <T,>(a: readonly T[]): T => a[rnd(a.length)]!;
    // Spellings the merge reads exactly, and some it does not (they travel): their values, as numeric(10,2) stores them.
    const AMOUNT: Record<string, string> = { '1.555': '1.56', '2': '2.00', '-0.5': '-0.50', '3.10': '3.10', '0.004': '0.00', '1e2': '100.00', '2.5e0': '2.50' };
    const DEFAULT_AT = '2000-01-01';
    const cents = (x: string) => BigInt(formatDecimal(roundDecimal(dec(x), 2)).replace('.', ''));
    const totals = () => ({ rows: 0, c: 0, total: 0n, hiAdded: null as bigint | null, hiRemoved: null as bigint | null, lastAdded: null as string | null });
    const maxOf = <T,>(a: T | null, b: T): T => (a === null || b > a! ? b : a);
    for (let round = 0; round < 400; round++) {
      const images: SignedImage[] = [];
      for (let i = 1 + rnd(60); i > 0; i--) {
        const given = rnd(2) === 0;
        images.push({ sign: pick([1, -1] as const), values: [pick(['1', '2', '3', '01']), pick(['a', 'b', 'test']), pick([...Object.keys(AMOUNT), null]), given ? pick(['2026-01-01', '2026-02-01', null]) : null], given: [given] });
      }
      // Row by row, as Postgres would fold the unmerged images.
      const expected = new Map<number, ReturnType<typeof totals>>();
      for (const im of images) {
        if (im.values[1] === 'test') continue;
        const t = expected.get(Number(im.values[0])) ?? totals();
        expected.set(Number(im.values[0]), t);
        const amount = im.values[2] ?? null;
        const atValue = im.given[0] ? (im.values[3] ?? null) : DEFAULT_AT;
        t.rows += im.sign;
        if (amount !== null) {
          t.c += im.sign;
          t.total += BigInt(im.sign) * cents(AMOUNT[amount]!);
          if (im.sign > 0) t.hiAdded = maxOf(t.hiAdded, cents(AMOUNT[amount]!));
          else t.hiRemoved = maxOf(t.hiRemoved, cents(AMOUNT[amount]!));
        }
        if (im.sign > 0 && atValue !== null) t.lastAdded = maxOf(t.lastAdded, atValue);
      }
      // The merged rows, read the way fold-sql.ts's deltaAggs reads them: a partial when there is one, else w × the value.
      const m = mergeImages(v, ['at'], images);
      const got = new Map<number, ReturnType<typeof totals>>();
      m.weights.forEach((w, k) => {
        if (m.values[1]![k] === 'test') return;
        const t = got.get(Number(m.values[0]![k])) ?? totals();
        got.set(Number(m.values[0]![k]), t);
        const amount = m.values[2]![k] ?? null;
        const atValue = m.given[0]![k] ? (m.values[3]![k] ?? null) : DEFAULT_AT;
        const part = (name: string) => m.parts[at(name)]![k] ?? null;
        t.rows += w;
        t.c += part('c.n') !== null ? Number(part('c.n')) : amount !== null ? w : 0;
        t.total += part('total.s') !== null ? cents(part('total.s')!) : amount !== null ? BigInt(w) * cents(AMOUNT[amount]!) : 0n;
        const extreme = part('hi.e') ?? (amount === null ? null : AMOUNT[amount]!);
        if (extreme !== null && w > 0) t.hiAdded = maxOf(t.hiAdded, cents(extreme));
        if (extreme !== null && w < 0) t.hiRemoved = maxOf(t.hiRemoved, cents(extreme));
        if (w > 0 && atValue !== null) t.lastAdded = maxOf(t.lastAdded, atValue);
      });
      expect(got, `round ${round}`).toEqual(expected);
      // Merged at all: never more rows than images.
      expect(m.weights.length).toBeLessThanOrEqual(images.length);
    }
  });
});

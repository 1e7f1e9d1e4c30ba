import type { BoundView } from '@sluice/shared/views/bind.ts';
import { foldable, foldedParts } from '@sluice/shared/views/fold-sql.ts';

/**
 * A batch's row images, summed per group before they reach Postgres: the
 * fold then reads one input row per group and sign instead of one per row
 * (at ~100 groups per 1,000-row batch, a tenth of the rows to bind, unnest
 * and hash). The SQL side is fold-sql.ts (`foldedParts`, `deltaAggs`).
 *
 * Rows merge only where the result is exactly what Postgres would compute
 * row by row:
 *
 * - group and WHERE columns must be the same text in every merged row (the
 *   fold evaluates the WHERE and the group once per merged row); two
 *   spellings of one value (`12`, `012`) stay two rows and Postgres's
 *   GROUP BY puts them together;
 * - a column an insert left to its default merges with the rows that also
 *   left it (the default is stable within the transaction: load.ts refuses
 *   volatile ones);
 * - an aggregated column is summed here only for values whose decimal text
 *   we read exactly (`-12`, `3.50`: integers, and numeric without exponent),
 *   keeping numeric's scale rule (a sum has the largest scale of its terms),
 *   and compared here for min/max only over integers and numeric; any other
 *   value (`1e3`, `NaN`, a timestamp, text under a collation) stays the same
 *   text in every row it merges with, and the fold computes from it.
 */

/** One signed row image: text per view column (BoundView.columns order), given per defaulted column. */
export interface SignedImage {
  sign: 1 | -1;
  values: readonly (string | null)[];
  given: readonly boolean[];
}

/** The fold's parameters before the key arrays: weights, values per column, given per defaulted column, partials. */
export interface MergedImages {
  weights: number[];
  values: (string | null)[][];
  given: boolean[][];
  parts: (string | null)[][];
}

/** A decimal read exactly: value = unscaled × 10^−scale. */
interface Decimal {
  unscaled: bigint;
  scale: number;
}

const INTEGER = /^-?\d+$/;
const NUMERIC = /^-?\d+(?:\.\d+)?$/;

/** Whether `text` is a spelling we read exactly (see the module comment). */
function exactSpelling(text: string, integer: boolean): boolean {
  return (integer ? INTEGER : NUMERIC).test(text);
}

/** `text` as a Decimal when its spelling is one we read exactly (see the module comment), else null. */
export function readDecimal(text: string, integer: boolean): Decimal | null {
  return exactSpelling(text, integer) ? parseDecimal(text) : null;
}

/** A spelling `exactSpelling` accepted, as a Decimal. */
function parseDecimal(text: string): Decimal {
  const dot = text.indexOf('.');
  if (dot < 0) return { unscaled: BigInt(text), scale: 0 };
  return { unscaled: BigInt(text.slice(0, dot) + text.slice(dot + 1)), scale: text.length - dot - 1 };
}

function rescale(d: Decimal, scale: number): bigint {
  // Most terms of a sum share a scale (a numeric(p, s) column's): no power of ten to build.
  return scale === d.scale ? d.unscaled : d.unscaled * 10n ** BigInt(scale - d.scale);
}

/** a + sign × b, at the larger scale (numeric's own rule for addition). */
export function addDecimal(a: Decimal, b: Decimal, sign: 1 | -1): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { unscaled: rescale(a, scale) + BigInt(sign) * rescale(b, scale), scale };
}

export function compareDecimal(a: Decimal, b: Decimal): number {
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale);
  const y = rescale(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `d` at exactly `scale` digits, rounded half away from zero (how numeric(p, s) stores an input). */
export function roundDecimal(d: Decimal, scale: number): Decimal {
  if (d.scale <= scale) return { unscaled: rescale(d, scale), scale };
  const f = 10n ** BigInt(d.scale - scale);
  const neg = d.unscaled < 0n;
  const abs = neg ? -d.unscaled : d.unscaled;
  const q = abs / f + (2n * (abs % f) >= f ? 1n : 0n);
  return { unscaled: neg ? -q : q, scale };
}

export function formatDecimal(d: Decimal): string {
  const neg = d.unscaled < 0n;
  const digits = (neg ? -d.unscaled : d.unscaled).toString().padStart(d.scale + 1, '0');
  const int = digits.slice(0, digits.length - d.scale);
  return `${neg ? '-' : ''}${int}${d.scale > 0 ? `.${digits.slice(digits.length - d.scale)}` : ''}`;
}

/** How each view column and partial is treated (built once per view). */
interface Plan {
  /**
   * Per column: null = always travels as a value; else how its values are read: as integers or
   * decimals, at the declared scale of numeric(p, s) when there is one (the stored value is
   * rounded to it), and whether they are read at all (only count(col) over it: no).
   */
  columns: ({ integer: boolean; scale: number | null; exact: boolean } | null)[];
  /** Per partial (foldedParts order): column index, kind, and for 'e' whether the smaller value wins. */
  parts: { col: number; part: 'n' | 's' | 'e'; min: boolean }[];
  /** The columns read as decimals (the `exact` ones): each read once per row, whatever number of partials use it. */
  read: number[];
}

const plans = new WeakMap<BoundView, Plan>();

function planOf(v: BoundView): Plan {
  let plan = plans.get(v);
  if (plan) return plan;
  const parts = foldedParts(v);
  const at = new Map(v.columns.map((c, i) => [c.name, i]));
  const columns = v.columns.map((c) => {
    if (!foldable(v, c.name)) return null;
    const aggs = v.aggregates.filter((a) => a.col?.name === c.name);
    // min/max over a type we do not compare exactly: the column keeps its value.
    if (aggs.some((a) => (a.fn === 'min' || a.fn === 'max') && !parts.some((p) => p.agg === a))) return null;
    const exact = aggs.some((a) => a.fn !== 'count');
    const typmod = /^numeric\(\d+(?:,(-?\d+))?\)$/.exec(c.type.replace(/ /g, ''));
    const scale = typmod ? Number(typmod[1] ?? 0) : null;
    // A negative scale rounds to tens or more: not read here.
    if (exact && scale !== null && scale < 0) return null;
    return { integer: c.kind !== 'numeric', scale, exact };
  });
  plan = {
    columns,
    parts: parts.map((p) => ({ col: at.get(p.agg.col!.name)!, part: p.part, min: p.agg.fn === 'min' })),
    read: columns.flatMap((c, i) => (c?.exact ? [i] : [])),
  };
  plans.set(v, plan);
  return plan;
}

interface Group {
  first: SignedImage;
  rows: number;
  /**
   * Per column: folded here (the value does not travel); the same for every row of the group, as
   * the key says so. Null, like the partials, until a second row joins: a lone row travels as it
   * is, so where nearly every row is its own group no decimal is read or summed.
   */
  folded: boolean[] | null;
  n: number[];
  s: (Decimal | null)[];
  e: ({ text: string; value: Decimal } | null)[];
}

type ReadColumn = NonNullable<Plan['columns'][number]>;

/** The decimal a column stores for `text` (rounded to a numeric(p, s) column's scale); `text` is an exact spelling. */
function decimalOf(col: ReadColumn, text: string): Decimal {
  const dec = parseDecimal(text);
  return col.scale === null ? dec : roundDecimal(dec, col.scale);
}

/** Add one row of `g` to its partials; `decs` is scratch space, one slot per column. */
function accumulate(plan: Plan, g: Group, img: SignedImage, decs: (Decimal | null)[]): void {
  // A folded column read as decimals passed exactSpelling (its key token says so).
  for (const i of plan.read) {
    const x = img.values[i] ?? null;
    decs[i] = g.folded![i] && x !== null ? decimalOf(plan.columns[i]!, x) : null;
  }
  for (let j = 0; j < plan.parts.length; j++) {
    const p = plan.parts[j]!;
    if (!g.folded![p.col]) continue;
    const x = img.values[p.col] ?? null;
    if (x === null) continue;
    if (p.part === 'n') {
      g.n[j] = g.n[j]! + img.sign;
      continue;
    }
    const dec = decs[p.col]!;
    if (p.part === 's') g.s[j] = addDecimal(g.s[j] ?? { unscaled: 0n, scale: dec.scale }, dec, img.sign);
    else {
      const cur = g.e[j] ?? null;
      const c = cur === null ? 0 : compareDecimal(dec, cur.value);
      if (cur === null || (p.min ? c < 0 : c > 0)) g.e[j] = { text: formatDecimal(dec), value: dec };
    }
  }
}

/** Sum `images` per group and sign (see the module comment). `defaulted`: names of the view's defaulted columns, in parameter order. */
export function mergeImages(v: BoundView, defaulted: readonly string[], images: Iterable<SignedImage>): MergedImages {
  const plan = planOf(v);
  const defaultedAt = v.columns.map((c) => defaulted.indexOf(c.name));
  const groups = new Map<string, Group>();
  const keyParts: string[] = [];
  const folded: boolean[] = v.columns.map(() => false);
  const decs: (Decimal | null)[] = v.columns.map(() => null);
  for (const img of images) {
    keyParts.length = 0;
    keyParts.push(img.sign === 1 ? '+' : '-');
    for (let i = 0; i < v.columns.length; i++) {
      const x = img.values[i] ?? null;
      const d = defaultedAt[i]!;
      const col = plan.columns[i] ?? null;
      folded[i] = false;
      if (d >= 0 && !img.given[d]) {
        keyParts.push('\u0002'); // left to its default: the same value in every such row
        continue;
      }
      folded[i] = col !== null && (x === null || !col.exact || exactSpelling(x, col.integer));
      // Tokens: folded, NULL, or the value (prefixed, so no value reads as a marker).
      keyParts.push(folded[i] ? '\u0003' : x === null ? '\u0001' : `v${x}`);
    }
    // NUL cannot occur in Postgres text: a safe separator.
    const key = keyParts.join('\u0000');
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: img, rows: 1, folded: null, n: [], s: [], e: [] });
      continue;
    }
    if (g.rows++ === 1) {
      g.folded = [...folded];
      g.n = plan.parts.map(() => 0);
      g.s = plan.parts.map(() => null);
      g.e = plan.parts.map(() => null);
      accumulate(plan, g, g.first, decs);
    }
    accumulate(plan, g, img, decs);
  }
  const out: MergedImages = { weights: [], values: v.columns.map(() => []), given: defaulted.map(() => []), parts: plan.parts.map(() => []) };
  for (const g of groups.values()) {
    const sign = g.first.sign;
    out.weights.push(sign * g.rows);
    // One row: its values travel as they are, no partials (fewer array elements to bind).
    const single = g.rows === 1;
    for (let i = 0; i < v.columns.length; i++) out.values[i]!.push(single || !g.folded![i] ? (g.first.values[i] ?? null) : null);
    for (let d = 0; d < defaulted.length; d++) out.given[d]!.push(g.first.given[d]!);
    for (let j = 0; j < plan.parts.length; j++) {
      const p = plan.parts[j]!;
      let part: string | null = null;
      if (!single && g.folded![p.col]) {
        if (p.part === 'n') part = String(g.n[j]);
        else if (p.part === 's') part = g.s[j] === null ? null : formatDecimal(g.s[j]!);
        else part = g.e[j]?.text ?? null;
      }
      out.parts[j]!.push(part);
    }
  }
  return out;
}

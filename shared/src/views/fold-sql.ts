import type { BoundAggregate, BoundView } from './bind.ts';

/**
 * The fold's SQL pieces (sql.ts builds the statements): a batch's or the
 * log's delta columns per aggregate, and the `INSERT … ON CONFLICT DO UPDATE`
 * that folds a delta into the view (sql.ts's module comment has the columns).
 */

/**
 * A batch's rows reach the fold already summed per group by the writer
 * (writer/src/views/merge.ts): one input row stands for `w` rows (signed:
 * −w before-images, +w after-images) that share their group and WHERE
 * columns. An aggregated column is either the same in all w rows (its value
 * travels and the fold multiplies: count w, sum w × value, min/max the value)
 * or folded by the writer, its partial travelling instead (the column's value
 * is then NULL). The partials, one parameter each:
 *   `n` non-null values (count(col), sum, avg), `s` their signed sum (sum, avg),
 *   `e` their extreme (min/max over integers or numeric, the types the writer compares exactly).
 * Only columns that appear in aggregates alone are ever folded: group and
 * WHERE columns always travel as values.
 */
export interface FoldedPart {
  agg: BoundAggregate;
  part: 'n' | 's' | 'e';
}

const EXACT_ORDER: ReadonlySet<string> = new Set(['int2', 'int4', 'int8', 'numeric']);

/** Whether the writer may fold (sum up) a column's values: it is read by aggregates alone. */
export function foldable(v: BoundView, column: string): boolean {
  return !v.group.some((g) => g.col.name === column) && !v.whereColumns.has(column);
}

/** The partial parameters of a view, in parameter order. */
export function foldedParts(v: BoundView): FoldedPart[] {
  const out: FoldedPart[] = [];
  for (const a of v.aggregates) {
    if (a.col === null || !foldable(v, a.col.name)) continue;
    if (a.fn === 'count') out.push({ agg: a, part: 'n' });
    else if (a.fn === 'sum' || a.fn === 'avg') out.push({ agg: a, part: 'n' }, { agg: a, part: 's' });
    else if (EXACT_ORDER.has(a.col.kind)) out.push({ agg: a, part: 'e' });
  }
  return out;
}

/** The column name of partial `j` in the fold's input (`r.__sluice_p<j>`). */
export const partColumn = (j: number): string => `__sluice_p${j}`;

/** Delta columns per aggregate (see the module comment) over the fold's input rows `r` (weight `r.__sluice_w`). */
export function deltaAggs(v: BoundView): string {
  const parts = foldedParts(v);
  const partOf = (a: BoundAggregate, part: FoldedPart['part']): string | null => {
    const j = parts.findIndex((p) => p.agg === a && p.part === part);
    return j < 0 ? null : `r.${partColumn(j)}`;
  };
  const w = 'r.__sluice_w';
  return v.aggregates
    .map((a) => {
      if (a.col === null) return '';
      const c = `r.${a.col.quoted}`;
      const or = (part: string | null, derived: string) => (part === null ? derived : `coalesce(${part}, ${derived})`);
      if (a.fn === 'min' || a.fn === 'max') {
        const e = or(partOf(a, 'e'), c);
        return `, ${a.fn}(${e}) FILTER (WHERE ${w} > 0) AS a${a.i}, ${a.fn}(${e}) FILTER (WHERE ${w} < 0) AS d${a.i}`;
      }
      const n = `, coalesce(sum(${or(partOf(a, 'n'), `CASE WHEN ${c} IS NOT NULL THEN ${w} END`)}), 0)::bigint AS n${a.i}`;
      if (a.fn === 'count') return n;
      // w × value in a type that cannot overflow: w is at most a batch's row count.
      const product = a.col.kind === 'int8' ? `${w}::numeric * ${c}` : a.col.kind === 'numeric' ? `${w} * ${c}` : `${w}::bigint * ${c}`;
      return `${n}, sum(${or(partOf(a, 's'), product)})::numeric AS s${a.i}`;
    })
    .join('');
}

/** The log's delta columns (same names as `deltaAggs`). */
export function deltaColDefs(v: BoundView): string {
  return v.aggregates
    .map((a) => {
      if (a.col === null) return '';
      if (a.fn === 'min' || a.fn === 'max') return `, a${a.i} ${a.col.type}, d${a.i} ${a.col.type}`;
      return a.fn === 'count' ? `, n${a.i} bigint` : `, n${a.i} bigint, s${a.i} numeric`;
    })
    .join('');
}

/** Re-aggregate logged deltas (sums add; min of mins, max of maxes). */
export function logAggs(v: BoundView): string {
  return v.aggregates
    .map((a) => {
      if (a.col === null) return '';
      if (a.fn === 'min' || a.fn === 'max') return `, ${a.fn}(a${a.i}) AS a${a.i}, ${a.fn === 'min' ? 'min' : 'max'}(d${a.i}) AS d${a.i}`;
      return a.fn === 'count' ? `, sum(n${a.i})::bigint AS n${a.i}` : `, sum(n${a.i})::bigint AS n${a.i}, sum(s${a.i}) AS s${a.i}`;
    })
    .join('');
}

/** The numeric values a running sum cannot take back out. */
const NON_FINITE = `('NaN', 'Infinity', '-Infinity')`;

/** Whether aggregate `a` keeps a running sum that may hold NaN or ±Infinity (numeric's; integer sums cannot, float sums are refused at bind). */
export function mayGoNonFinite(a: BoundAggregate): boolean {
  return (a.fn === 'sum' || a.fn === 'avg') && a.col?.kind === 'numeric';
}

/**
 * Fold `d` into the view: a new group takes the delta as is; an existing one
 * adds counts and sums, takes least/greatest of added min/max values, and is
 * marked stale when a removed value could have been its min or max
 * (removed ≤ current min, ≥ current max) or a numeric sum is NaN or infinite
 * (then or in the delta). RETURNING names each group touched (`k0…` as
 * text: the cache fences them after the commit) and, only for a group that
 * needs more (`settle`: `empty`, its row count reached 0; `stale`), its ctid
 * (`t`: settle.ts finds the row again by it, in this same transaction, which
 * holds its lock). NULL for the rest: a row count, a flag and a ctid per group
 * were converted, sent and read back for nothing (`pnpm bench views`, ~950
 * groups per batch: the writer's CPU per row 13 % lower without them).
 */
export function upsert(v: BoundView, oneBatch: boolean): string {
  const g = v.group;
  const ins: string[] = [];
  const vals: string[] = [];
  const set: string[] = [];
  const stale: string[] = [];
  /** Whether a new group is stale at once (only a non-finite sum makes it so). */
  const staleNew: string[] = [];
  const push = (col: string, value: string, onConflict: string | null) => {
    ins.push(col);
    vals.push(value);
    if (onConflict !== null) set.push(`${col} = ${onConflict}`);
  };
  for (const x of g) push(x.quoted, `d.${x.quoted}`, null);
  push('__rows', 'd.rows', 'v.__rows + EXCLUDED.__rows');
  for (const a of v.aggregates) {
    const out = a.quoted;
    if (a.col === null) {
      push(out, 'd.rows', `v.${out} + EXCLUDED.${out}`);
      continue;
    }
    const nNew = `v.__n${a.i} + EXCLUDED.__n${a.i}`;
    switch (a.fn) {
      case 'count':
        push(`__n${a.i}`, `d.n${a.i}`, nNew);
        push(out, `d.n${a.i}`, `v.${out} + EXCLUDED.${out}`);
        break;
      case 'sum':
      case 'avg': {
        // The raw signed sum travels in __s (EXCLUDED has only table columns): a delta that
        // removes as many values as it adds still changes the sum.
        const sNew = `coalesce(v.__s${a.i}, 0) + coalesce(EXCLUDED.__s${a.i}, 0)`;
        push(`__n${a.i}`, `d.n${a.i}`, nNew);
        push(`__s${a.i}`, `coalesce(d.s${a.i}, 0)`, sNew);
        const shown = a.fn === 'sum' ? (x: string) => `(${x})::${a.type}` : (x: string, n: string) => `(${x}) / (${n})`;
        push(out, `CASE WHEN d.n${a.i} > 0 THEN ${shown(`d.s${a.i}`, `d.n${a.i}`)} END`, `CASE WHEN ${nNew} > 0 THEN ${shown(sNew, nNew)} END`);
        // numeric holds NaN and ±Infinity: a running sum that took one in cannot take it out again
        // (Infinity − Infinity is NaN), so a group whose sum is not finite is recomputed by any delta
        // that reaches it. So is one whose delta's sum is not finite: logged deltas of several batches
        // may add a value and remove it again (a single batch's delta removes only what was there).
        if (mayGoNonFinite(a)) {
          stale.push(`v.__s${a.i} IN ${NON_FINITE} OR EXCLUDED.__s${a.i} IN ${NON_FINITE}`);
          staleNew.push(`coalesce(d.s${a.i}, 0) IN ${NON_FINITE}`);
        }
        break;
      }
      case 'min':
      case 'max': {
        // EXCLUDED carries the removed value in the output column only for this comparison? No: see __stale below.
        const better = a.fn === 'min' ? 'least' : 'greatest';
        const cmp = a.fn === 'min' ? '<=' : '>=';
        // The removed extreme travels in __d (EXCLUDED has only table columns); SET sees the row as it was.
        push(`__d${a.i}`, `d.d${a.i}`, 'NULL');
        // One batch's delta removes before-images and adds after-images: an added value at least as
        // extreme as the removed one is the group's new extreme (the rest was no more extreme than the
        // removed one), so no recompute. Not for logged deltas of several batches: a value added by one
        // and removed by a later one would be taken for the extreme.
        const covered = oneBatch ? ` AND (EXCLUDED.${out} IS NULL OR NOT (EXCLUDED.${out} ${cmp} EXCLUDED.__d${a.i}))` : '';
        stale.push(`(EXCLUDED.__d${a.i} IS NOT NULL AND v.${out} IS NOT NULL AND EXCLUDED.__d${a.i} ${cmp} v.${out}${covered})`);
        push(out, `d.a${a.i}`, `${better}(v.${out}, EXCLUDED.${out})`);
        break;
      }
    }
  }
  if (stale.length > 0) {
    // Computed from the row as it was before this statement (the subquery sees the statement's snapshot).
    // A new group cannot have lost a value it never had: not stale, unless its delta's sum is not finite.
    ins.push('__stale');
    vals.push(staleNew.length === 0 ? 'false' : `(${staleNew.join(' OR ')})`);
    set.push(`__stale = v.__stale OR ${stale.join(' OR ')}`);
  }
  return `INSERT INTO ${v.data} AS v (${ins.join(', ')})
SELECT ${vals.join(', ')} FROM d ORDER BY ${g.map((x) => `d.${x.quoted}`).join(', ')}
ON CONFLICT (${g.map((x) => x.quoted).join(', ')}) DO UPDATE SET ${set.join(', ')}
RETURNING ${g.map((x, i) => `v.${x.quoted}::text AS k${i}`).join(', ')},
  CASE WHEN v.__rows = 0 THEN 'empty' WHEN v.__stale THEN 'stale' END AS settle,
  CASE WHEN v.__rows = 0 OR v.__stale THEN v.ctid::text END AS t`;
}

import type { BoundView } from './bind.ts';

/**
 * The fold's SQL pieces (sql.ts builds the statements): a batch's or the
 * log's delta columns per aggregate, and the `INSERT … ON CONFLICT DO UPDATE`
 * that folds a delta into the view (sql.ts's module comment has the columns).
 */

/** Delta columns per aggregate (see the module comment). */
export function deltaAggs(v: BoundView): string {
  return v.aggregates
    .map((a) => {
      if (a.col === null) return '';
      const c = `r.${a.col.quoted}`;
      if (a.fn === 'min' || a.fn === 'max') return `, ${a.fn}(${c}) FILTER (WHERE r.s > 0) AS a${a.i}, ${a.fn}(${c}) FILTER (WHERE r.s < 0) AS d${a.i}`;
      const n = `, coalesce(sum(r.s) FILTER (WHERE ${c} IS NOT NULL), 0)::bigint AS n${a.i}`;
      return a.fn === 'count' ? n : `${n}, sum(r.s * ${c})::numeric AS s${a.i}`;
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

/**
 * Fold `d` into the view: a new group takes the delta as is; an existing one
 * adds counts and sums, takes least/greatest of added min/max values, and is
 * marked stale when a removed value could have been its min or max
 * (removed ≤ current min, ≥ current max). RETURNING names each group touched
 * (`k0…` as text), its row count, whether it went stale, and its ctid
 * (`t`: settle.ts finds the row again by it, in this same transaction, which holds its lock).
 */
export function upsert(v: BoundView, oneBatch: boolean): string {
  const g = v.group;
  const ins: string[] = [];
  const vals: string[] = [];
  const set: string[] = [];
  const stale: string[] = [];
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
    // A new group cannot have lost a value it never had: not stale.
    ins.push('__stale');
    vals.push('false');
    set.push(`__stale = v.__stale OR ${stale.join(' OR ')}`);
  }
  return `INSERT INTO ${v.data} AS v (${ins.join(', ')})
SELECT ${vals.join(', ')} FROM d ORDER BY ${g.map((x) => `d.${x.quoted}`).join(', ')}
ON CONFLICT (${g.map((x) => x.quoted).join(', ')}) DO UPDATE SET ${set.join(', ')}
RETURNING ${g.map((x, i) => `v.${x.quoted}::text AS k${i}`).join(', ')}, v.__rows AS rows, v.__stale AS stale, v.ctid::text AS t`;
}

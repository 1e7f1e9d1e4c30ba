import { named, type NamedStatement } from '../db/pool.ts';
import { quoteIdent } from '../sql/ident.ts';
import type { BoundView } from './bind.ts';
import { deltaAggs, deltaColDefs, foldedParts, logAggs, mayGoNonFinite, partColumn, upsert } from './fold-sql.ts';

/**
 * The SQL of one view, fixed text built once from the bound definition.
 *
 * Storage (`data`): the group columns (unique, NULLS NOT DISTINCT, so a NULL
 * group is one group as in GROUP BY), the output columns, and hidden columns
 * that keep them exact when rows go away:
 *   `__rows`  rows in the group (count(*) before the WHERE-filtered group empties: 0 → the group is deleted)
 *   `__n<i>`  non-null values of aggregate i (sum/avg: NULL when 0; count(col) is this)
 *   `__s<i>`  running sum of aggregate i (sum = __s, avg = __s / __n, NULL while __n = 0)
 *   `__d<i>`  scratch: the extreme value a delta removed (min/max), compared in the fold, never kept
 *   `__stale` a removed value was the group's min or max, or a numeric running sum is NaN or
 *             infinite: recompute the group from the base table
 *
 * A delta is a set of signed row images (+1 a row now present, −1 a row that
 * was present before the batch; the writer sends rows that share their group
 * as one, weighted: fold-sql.ts) aggregated per group:
 *   `rows`, `n<i>`, `s<i>`, `a<i>` (min/max of the added values), `d<i>` (min/max of the removed ones).
 * One `INSERT … ON CONFLICT DO UPDATE` folds them: once per group per batch,
 * in group-key order, so two partitions' batches that share groups lock them
 * in the same order (they wait for each other, never deadlock).
 */

/** Statement texts of a view. */
export interface ViewStatements {
  create: string;
  /**
   * Params: `$1` int[] weights (signed row counts), one array per base column (of its type, or text[]:
   * typedArray), one bool[] per defaulted column ("given"), one array per folded partial (fold-sql.ts
   * foldedParts), one text[] per key column (rows read after). writer/src/views/merge.ts builds them.
   */
  foldBatch: NamedStatement;
  /** Same params as `foldBatch`: appends the delta to the log, tagged with this transaction's id. */
  logBatch: NamedStatement;
  /** `$1` the backfill snapshot (pg_snapshot text): folds the logged deltas it cannot see. */
  foldLog: string;
  /** `$1` tid[]: recompute these stale rows (as the fold returned them): min/max and numeric sums (recomputeSql). */
  recompute: NamedStatement | null;
  /** `$1` tid[]: delete these rows if their row count reached 0. */
  dropEmpty: NamedStatement;
  /** Fill `data` from the base table (run in the backfill's snapshot). */
  backfill: string;
  /** Every group where `data` and a fresh `SELECT … GROUP BY` differ: `{ k, stored, fresh }`. */
  verify: string;
}

const Q = quoteIdent;

/** The default expressions of base columns (pg_get_expr), for inserts that omit them. */
export type Defaults = ReadonlyMap<string, string>;

export function viewStatements(v: BoundView, defaults: Defaults): ViewStatements {
  const cols = v.columns;
  const defaulted = cols.filter((c) => defaults.has(c.name));
  const pk = v.table.primaryKey;
  const g = v.group;
  const gList = g.map((x) => x.quoted).join(', ');
  const minmax = v.aggregates.filter((a) => a.fn === 'min' || a.fn === 'max');
  const summed = v.aggregates.filter((a) => a.fn === 'sum' || a.fn === 'avg' || (a.fn === 'count' && a.col !== null));

  // ---- storage
  const dataName = `${v.name}__data`;
  const create = `${dataDdl(v, v.data, `${v.name}__key`)};
CREATE TABLE IF NOT EXISTS ${v.log} (xid xid8 NOT NULL, ${g.map((x) => `${x.quoted} ${x.col.type}`).join(', ')}, rows bigint NOT NULL${deltaColDefs(v)});
${readViewDdl(v)};
COMMENT ON TABLE ${Q('sluice_views')}.${Q(dataName)} IS 'Sluice read model ${v.name}: maintained by the writers, do not write'`;

  // ---- a batch's delta: the writer's rows per group (fold-sql.ts foldedParts), plus the keyed rows read again
  let p = 1;
  const weights = `$${p++}::int[]`;
  // Images are cast to the column's declared type, modifier included: numeric(10,2) stores 1.555 as 1.56 and
  // timestamp(0) rounds fractions, so the fold must count what the insert stored (values the insert accepted:
  // a cast to varchar(n) or char(n) gives what the assignment stored too).
  const colParams = cols.map((c) => `$${p++}::${typedArray(c) ? `${c.type}[]` : 'text[]'}`);
  const givenParams = defaulted.map(() => `$${p++}::bool[]`);
  const parts = foldedParts(v);
  const partType = (x: (typeof parts)[number]) => (x.part === 'n' ? 'int8' : x.part === 's' ? 'numeric' : x.agg.col!.castType);
  const partParams = parts.map((x) => `$${p++}::${partType(x)}[]`);
  const keyParams = pk.map(() => `$${p++}::text[]`);
  const a = cols.map((_, i) => `a${i}`);
  const gv = defaulted.map((_, i) => `g${i}`);
  const pv = parts.map((_, j) => `p${j}`);
  const valueOf = (i: number) => {
    const c = cols[i]!;
    const d = defaulted.indexOf(c);
    const given = typedArray(c) ? `u.${a[i]}` : `u.${a[i]}::${c.type}`;
    // An insert that omitted a defaulted column got its default, evaluated in this same transaction (now() included).
    return d < 0 ? given : `CASE WHEN u.${gv[d]} THEN ${given} ELSE (${defaults.get(c.name)})::${c.castType} END`;
  };
  const images = `src AS (
  SELECT u.w AS __sluice_w, ${cols.map((c, i) => `${valueOf(i)} AS ${c.quoted}`).join(', ')}${pv.map((x, j) => `, u.${x} AS ${partColumn(j)}`).join('')}
    FROM unnest(${[weights, ...colParams, ...givenParams, ...partParams].join(', ')}) AS u(${['w', ...a, ...gv, ...pv].join(', ')})
  UNION ALL
  SELECT 1, ${cols.map((c) => `t.${c.quoted}`).join(', ')}${parts.map((x) => `, NULL::${partType(x)}`).join('')}
    FROM ${keyedRows(v.table, cols, keyParams)}
)`;
  const deltaOf = (src: string, filter: string | null) => `d AS (
  SELECT ${g.map((x) => `r.${x.col.quoted} AS ${x.quoted}`).join(', ')}, sum(r.__sluice_w)::bigint AS rows${deltaAggs(v)}
    FROM ${src} r${filter ? ` WHERE ${filter}` : ''}
   GROUP BY ${g.map((x) => `r.${x.col.quoted}`).join(', ')}
)`;
  const batchDelta = `WITH ${images}, ${deltaOf('src', v.where)}`;
  // Run once per batch: named, so each connection parses and plans them once.
  const foldBatch = named(`${batchDelta}\n${upsert(v, true)}`);
  const logBatch = named(`${batchDelta}\nINSERT INTO ${v.log} SELECT pg_current_xact_id(), d.* FROM d`);
  const foldLog = `WITH d AS (
  SELECT ${g.map((x) => x.quoted).join(', ')}, sum(rows)::bigint AS rows${logAggs(v)}
    FROM ${v.log} WHERE NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)
   GROUP BY ${gList}
)\n${upsert(v, false)}`;

  // ---- stale groups' recompute, empty groups: by the row's ctid as the fold returned it (a TID scan, whatever the planner thinks of the view's size)
  // `=` on NOT NULL group columns (an index on the base table serves it), IS NOT DISTINCT FROM where NULL is a group.
  const keyEq = (left: string, x: (typeof g)[number], right: string) => (x.col.notNull ? `${left} = ${right}` : `(${left} = ${right} OR (${left} IS NULL AND ${right} IS NULL))`);
  const ofGroup = g.map((x) => keyEq(`r.${x.col.quoted}`, x, `v.${x.quoted}`)).join(' AND ');
  const recompute = recomputeSql(v, ofGroup);
  const dropEmpty = named(`DELETE FROM ${v.data} v WHERE v.ctid = ANY($1::tid[]) AND v.__rows = 0`);

  // ---- backfill and verify: the definition itself, plus the hidden columns
  const fresh = freshGroups(v, null);
  const backfill = fillSql(v, null);
  const shown = [...g.map((x) => x.quoted), ...v.aggregates.map((x) => x.quoted)];
  const verify = `WITH fresh AS (${fresh}),
 f AS (SELECT ${shown.join(', ')} FROM fresh), s AS (SELECT ${shown.join(', ')} FROM ${v.data})
SELECT row_to_json(x.*)::text AS stored, NULL::text AS fresh FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM f) x
UNION ALL
SELECT NULL, row_to_json(y.*)::text FROM (SELECT * FROM f EXCEPT ALL SELECT * FROM s) y`;
  return { create, foldBatch, logBatch, foldLog, recompute, dropEmpty, backfill, verify };
}

/**
 * Whether a base column's images travel as an array of its own type rather
 * than text[] cast per element: the values are parsed once, at bind, instead
 * of as text and then again by the cast (at ~100 groups per 1,000-row batch
 * the fold's backend CPU fell from 2.9–3.1 to 2.2–2.6 µs per row). Only types
 * whose array literal is the plain comma-separated one and whose name is
 * valid with `[]` after it; the rest keep text[] and the cast. The values
 * were accepted by the base table's own statements earlier in the same
 * transaction, so their input cannot fail here.
 */
function typedArray(c: BoundView['columns'][number]): boolean {
  if (TYPED_KINDS.has(c.kind)) return true;
  return c.kind === 'text' && TYPED_TEXT.has(c.castType);
}
const TYPED_KINDS: ReadonlySet<string> = new Set(['bool', 'int2', 'int4', 'int8', 'float', 'numeric', 'uuid', 'timestamp', 'date', 'time']);
const TYPED_TEXT: ReadonlySet<string> = new Set(['text', 'character varying', 'bpchar']);

/** The storage table of a view named `table`, its unique group key constraint named `constraint`. */
function dataDdl(v: BoundView, table: string, constraint: string): string {
  const g = v.group;
  const minmax = v.aggregates.filter((a) => a.fn === 'min' || a.fn === 'max');
  const summed = v.aggregates.filter((a) => a.fn === 'sum' || a.fn === 'avg' || (a.fn === 'count' && a.col !== null));
  const colDefs = [
    ...g.map((x) => `${x.quoted} ${x.col.type}`),
    ...v.aggregates.map((a) => `${a.quoted} ${a.type}${a.fn === 'count' ? ' NOT NULL' : ''}`),
    '__rows bigint NOT NULL',
    ...summed.map((a) => `__n${a.i} bigint NOT NULL`),
    ...v.aggregates.filter((a) => a.fn === 'avg' || a.fn === 'sum').map((a) => `__s${a.i} numeric NOT NULL DEFAULT 0`),
    ...minmax.map((a) => `__d${a.i} ${a.type}`),
    '__stale boolean NOT NULL DEFAULT false',
  ];
  return `CREATE TABLE IF NOT EXISTS ${table} (${colDefs.join(', ')}, CONSTRAINT ${Q(constraint)} UNIQUE NULLS NOT DISTINCT (${g.map((x) => x.quoted).join(', ')}))`;
}

/** What reads see: the group and output columns of `data`, hidden columns left out (a SQL view binds to the table, not its name: re-run after a swap). */
function readViewDdl(v: BoundView): string {
  return `CREATE OR REPLACE VIEW ${v.read} AS SELECT ${[...v.group.map((x) => x.quoted), ...v.aggregates.map((a) => a.quoted)].join(', ')} FROM ${v.data}`;
}

/**
 * The SQL of a rebuild (shared/src/views/rebuild.ts): the view computed
 * again into `<name>__next` beside the live table, then swapped in.
 *
 *   table   the next table's qualified name;
 *   create  (re)creates it empty;
 *   next    the view's statements over the next table (backfill, foldLog, recompute, dropEmpty);
 *   swap    next takes the live table's name and key, the read view follows it, the old table goes.
 */
export function rebuildStatements(v: BoundView): { table: string; create: string; next: ViewStatements; swap: string } {
  const s = Q('sluice_views');
  const nextName = `${v.name}__next`;
  const next = `${s}.${Q(nextName)}`;
  const old = `${s}.${Q(`${v.name}__old`)}`;
  const create = `DROP TABLE IF EXISTS ${next}; ${dataDdl(v, next, `${v.name}__key_next`)}`;
  const swap = `ALTER TABLE ${v.data} RENAME TO ${Q(`${v.name}__old`)};
ALTER TABLE ${next} RENAME TO ${Q(`${v.name}__data`)};
${readViewDdl(v)};
DROP TABLE ${old};
ALTER TABLE ${v.data} RENAME CONSTRAINT ${Q(`${v.name}__key_next`)} TO ${Q(`${v.name}__key`)};
COMMENT ON TABLE ${v.data} IS 'Sluice read model ${v.name}: maintained by the writers, do not write'`;
  return { table: next, create, next: viewStatements({ ...v, data: next }, new Map()), swap };
}

/**
 * `$1…` = key text arrays: the current rows of these keys, `columns` as text
 * (`c0…`). The maintainer reads them once per table for all its views.
 */
export function beforeImagesSql(table: BoundView['table'], columns: readonly BoundView['columns'][number][]): string {
  const pk = table.primaryKey;
  return `SELECT ${columns.map((c, i) => `t.${c.quoted}::text AS c${i}`).join(', ')}
  FROM ${keyedRows(table, columns, pk.map((_, i) => `$${i + 1}::text[]`))}`;
}

/**
 * The rows of these keys (`params`: one text[] per key column), `columns` of
 * them as `t.<column>`. Keys as typed values, each once: the same row named
 * twice (two ops, or two text spellings of one key such as `1` and `01`)
 * must be imaged once.
 *
 * One primary-key probe per key, always: a LATERAL subquery (LIMIT 1 keeps
 * it from being flattened into a plain join). As a join, the planner
 * estimates an unnest at 200 keys and, for a table under a few hundred
 * thousand rows, hashes them and scans the whole table each batch
 * (EXPLAIN of the fold: a seq scan of 18,000 rows for 288 keys, half the
 * statement's time), a cost that grows with the table, not the batch.
 */
function keyedRows(table: BoundView['table'], columns: readonly BoundView['columns'][number][], params: string[]): string {
  const pk = table.primaryKey;
  const k = pk.map((_, i) => `k${i}`);
  const keys = `(SELECT DISTINCT ${pk.map((c, i) => `u.${k[i]}::${c.castType} AS ${k[i]}`).join(', ')} FROM unnest(${params.join(', ')}) AS u(${k.join(', ')})) k`;
  const list = columns.length === 0 ? '1' : columns.map((c) => `r.${c.quoted}`).join(', ');
  return `${keys} CROSS JOIN LATERAL (SELECT ${list} FROM ${table.qualified} r WHERE ${pk.map((c, i) => `r.${c.quoted} = k.${k[i]}`).join(' AND ')} LIMIT 1) t`;
}

/**
 * `$1` tid[]: the stale groups (the fold's `__stale`) computed again from
 * their base rows, in one scan per group: min/max (a removed value may have
 * been the extreme) and the sums of numeric columns (a NaN or an infinity in
 * the running sum). A group stale for one reason gets both: the others come
 * out as they were. null when the view has neither.
 */
function recomputeSql(v: BoundView, ofGroup: string): NamedStatement | null {
  const targets: string[] = [];
  const values: string[] = [];
  for (const a of v.aggregates) {
    if (a.col === null) continue;
    const c = `r.${a.col.quoted}`;
    if (a.fn === 'min' || a.fn === 'max') {
      targets.push(a.quoted);
      values.push(`${a.fn}(${c})`);
    } else if (mayGoNonFinite(a)) {
      // As freshGroups computes them, so verify compares like with like.
      targets.push(`__s${a.i}`, a.quoted);
      values.push(`coalesce(sum(${c}), 0)`, a.fn === 'sum' ? `sum(${c})::${a.type}` : `avg(${c})`);
    }
  }
  if (targets.length === 0) return null;
  return named(`UPDATE ${v.data} v SET (${targets.join(', ')}, __stale) = (SELECT ${values.join(', ')}, false FROM ${v.table.qualified} r WHERE ${v.where ? `(${v.where}) AND ` : ''}${ofGroup})
 WHERE v.ctid = ANY($1::tid[])`);
}

/** INSERT of the view's rows (hidden columns too) computed from the base rows, narrowed by `narrow` (see freshGroups). */
function fillSql(v: BoundView, narrow: string | null): string {
  const g = v.group;
  const summed = v.aggregates.filter((a) => a.fn === 'sum' || a.fn === 'avg' || (a.fn === 'count' && a.col !== null));
  const outCols = [...g.map((x) => x.quoted), ...v.aggregates.map((x) => x.quoted), '__rows', ...summed.map((x) => `__n${x.i}`), ...v.aggregates.filter((x) => x.fn === 'avg' || x.fn === 'sum').map((x) => `__s${x.i}`)];
  return `INSERT INTO ${v.data} (${outCols.join(', ')}) ${freshGroups(v, narrow)}`;
}

/**
 * The view computed from the base rows (`SELECT … GROUP BY`, its WHERE, the
 * hidden columns too), optionally narrowed by `narrow` (a condition over alias `r`).
 */
function freshGroups(v: BoundView, narrow: string | null): string {
  const g = v.group;
  const summed = v.aggregates.filter((a) => a.fn === 'sum' || a.fn === 'avg' || (a.fn === 'count' && a.col !== null));
  const where = [narrow, v.where === null ? null : `(${v.where})`].filter((x) => x !== null).join(' AND ');
  return `SELECT ${g.map((x) => `r.${x.col.quoted} AS ${x.quoted}`).join(', ')}, ${v.aggregates.map((x) => `${aggSql(x)} AS ${x.quoted}`).join(', ')}, count(*) AS __rows${summed.map((x) => `, count(r.${x.col!.quoted}) AS __n${x.i}`).join('')}${v.aggregates.filter((x) => x.fn === 'avg' || x.fn === 'sum').map((x) => `, coalesce(sum(r.${x.col!.quoted}), 0) AS __s${x.i}`).join('')}
  FROM ${v.table.qualified} r${where ? ` WHERE ${where}` : ''}
 GROUP BY ${g.map((x) => `r.${x.col.quoted}`).join(', ')}`;
}

function aggSql(a: BoundView['aggregates'][number]): string {
  if (a.col === null) return 'count(*)';
  return `${a.fn}(r.${a.col.quoted})${a.fn === 'avg' ? '' : ''}`;
}

/**
 * A view's groups of one shard-key range, for a shard move (the view must
 * group by the shard key, so a range's groups hold only that range's rows).
 * `$1` lo (null: unbounded), `$2` hi (exclusive, null: unbounded).
 *
 *   clear  deletes the range's groups;
 *   fill   computes them from the base rows on this shard, as the backfill does.
 *
 * The mover runs clear + fill on the target inside the cutover pause (the
 * copied rows are verified and no write of the range can commit anywhere), and
 * clear on the source once it deleted the range's rows there.
 */
export function viewRangeStatements(v: BoundView, shardColumn: string): { clear: string; fill: string } {
  const g = v.group.find((x) => x.col.name === shardColumn);
  if (g === undefined) throw new Error(`view ${v.name} does not group by the shard key ${shardColumn}`);
  const inRange = (c: string) => `($1::bigint IS NULL OR ${c} >= $1::bigint) AND ($2::bigint IS NULL OR ${c} < $2::bigint)`;
  return { clear: `DELETE FROM ${v.data} WHERE ${inRange(g.quoted)}`, fill: fillSql(v, inRange(`r.${g.col.quoted}`)) };
}

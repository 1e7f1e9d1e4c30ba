import { loadModule, parseSync } from 'libpg-query';
import { deparseWhere, type Node } from './where.ts';

/**
 * A read model's definition (`SLUICE_VIEWS_DIR/<name>.sql`) parsed with the
 * real Postgres parser (libpg-query: Postgres 17's grammar compiled to WASM),
 * never with regexes. The supported set is deliberately small, so that every
 * view can be kept exact from a batch's rows alone:
 *
 *   SELECT <group columns>, <aggregates> FROM <one table> [WHERE <row predicate>] GROUP BY <group columns>
 *
 * aggregates: count(*), count(col), sum(col), min(col), max(col), avg(col),
 * each without DISTINCT, FILTER, ORDER BY or OVER. The WHERE may use the
 * row's own columns, constants, casts, comparison and arithmetic operators,
 * AND/OR/NOT, IS [NOT] NULL, IN (…), LIKE, BETWEEN; no function calls (a
 * volatile function would make the same row count differently twice) and no
 * subqueries (they read other rows). Anything else is refused with the
 * construct and the file named.
 */

/** One aggregate column of a view. */
export interface ViewAggregate {
  fn: 'count' | 'sum' | 'min' | 'max' | 'avg';
  /** The column aggregated; null for count(*). */
  column: string | null;
  /** Output column name. */
  name: string;
}

/** A parsed view, not yet bound to the catalog. */
export interface ViewSpec {
  name: string;
  file: string;
  /** The table as the SQL names it (`schema.table` or `table`). */
  table: string;
  /** Group-by columns in select-list order: the view's key. */
  groupBy: { column: string; name: string }[];
  aggregates: ViewAggregate[];
  /** The WHERE clause's tree (checked), or null. */
  where: Node | null;
  /** The original SQL text. */
  sql: string;
}

/** A view definition outside the supported set: names the construct and the file. */
export class ViewDefinitionError extends Error {
  override readonly name = 'ViewDefinitionError';
  constructor(
    readonly file: string,
    readonly construct: string,
  ) {
    super(`${file}: ${construct}`);
  }
}

let loaded: Promise<void> | undefined;

/** Load the parser's WASM module once (call before `parseView`). */
export function loadViewParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** View names become SQL identifiers, cache keys and URL segments. */
const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const AGGREGATES = new Set(['count', 'sum', 'min', 'max', 'avg']);

/** Fields of a SelectStmt that a view may set; anything else is named in the refusal. */
const ALLOWED_SELECT = new Set(['targetList', 'fromClause', 'whereClause', 'groupClause', 'limitOption', 'op']);
const SELECT_FIELD_NAMES: Record<string, string> = {
  distinctClause: 'DISTINCT',
  intoClause: 'SELECT INTO',
  havingClause: 'HAVING',
  windowClause: 'WINDOW',
  valuesLists: 'VALUES',
  sortClause: 'ORDER BY',
  limitOffset: 'OFFSET',
  limitCount: 'LIMIT',
  lockingClause: 'FOR UPDATE/SHARE',
  withClause: 'WITH',
  groupDistinct: 'GROUP BY DISTINCT',
  larg: 'UNION/INTERSECT/EXCEPT',
  rarg: 'UNION/INTERSECT/EXCEPT',
};

type Obj = Record<string, unknown>;
const kindOf = (n: unknown): [string, Obj] => {
  const o = n as Obj;
  const k = Object.keys(o)[0]!;
  return [k, o[k] as Obj];
};
const strings = (list: unknown): string[] => ((list as Obj[] | undefined) ?? []).map((x) => ((x['String'] as Obj | undefined)?.['sval'] as string | undefined) ?? '*');

/**
 * Parse one view file. `name` is the file's base name. Throws
 * `ViewDefinitionError` naming the first unsupported construct.
 */
export function parseView(name: string, sql: string, file = `${name}.sql`): ViewSpec {
  const refuse = (construct: string): never => {
    throw new ViewDefinitionError(file, construct);
  };
  if (!NAME.test(name)) refuse(`view name "${name}" must be lower-case letters, digits and _ (the file's base name)`);
  let tree: { stmts?: { stmt: unknown }[] };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (err) {
    return refuse(`not valid SQL: ${(err as Error).message}`);
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) refuse(`expected exactly one SELECT statement, found ${stmts.length}`);
  const [kind, sel] = kindOf(stmts[0]!.stmt);
  if (kind !== 'SelectStmt') refuse(`${kind.replace(/Stmt$/, '').toUpperCase()} statement (only SELECT is supported)`);
  for (const [field, value] of Object.entries(sel)) {
    if (ALLOWED_SELECT.has(field)) continue;
    if (value === undefined || value === false) continue;
    refuse(`${SELECT_FIELD_NAMES[field] ?? field} is not supported`);
  }
  if (sel['op'] !== 'SETOP_NONE') refuse('UNION/INTERSECT/EXCEPT is not supported');
  if (sel['limitOption'] !== undefined && sel['limitOption'] !== 'LIMIT_OPTION_DEFAULT') refuse('LIMIT is not supported');

  // FROM: exactly one plain table.
  const from = (sel['fromClause'] as unknown[] | undefined) ?? [];
  if (from.length !== 1) refuse(from.length === 0 ? 'a FROM table is required' : 'more than one FROM item (joins are not supported)');
  const [fromKind, rv] = kindOf(from[0]);
  if (fromKind !== 'RangeVar') refuse(fromKind === 'JoinExpr' ? 'JOIN is not supported' : fromKind === 'RangeSubselect' ? 'a subquery in FROM is not supported' : `${fromKind} in FROM is not supported`);
  if (rv['inh'] === false) refuse('ONLY is not supported');
  const table = rv['schemaname'] ? `${rv['schemaname'] as string}.${rv['relname'] as string}` : (rv['relname'] as string);
  const alias = ((rv['alias'] as Obj | undefined)?.['aliasname'] as string | undefined) ?? (rv['relname'] as string);

  /** A column reference, optionally qualified by the table or its alias. */
  const column = (n: unknown, where: string): string => {
    const [k, ref] = kindOf(n);
    if (k !== 'ColumnRef') return refuse(`${where}: only plain columns are allowed, found ${k}`);
    const parts = strings(ref['fields']);
    if (parts.includes('*')) refuse(`${where}: * is not supported`);
    if (parts.length === 2 && parts[0] !== alias && parts[0] !== rv['relname']) refuse(`${where}: "${parts[0]}" is not the FROM table`);
    if (parts.length > 2) refuse(`${where}: "${parts.join('.')}" names another schema or table`);
    return parts[parts.length - 1]!;
  };

  // GROUP BY: plain columns.
  const groupCols = ((sel['groupClause'] as unknown[] | undefined) ?? []).map((g) => column(g, 'GROUP BY'));
  if (groupCols.length === 0) refuse('GROUP BY is required (the group columns are the view\'s key)');

  const groupBy: ViewSpec['groupBy'] = [];
  const aggregates: ViewAggregate[] = [];
  const names = new Set<string>();
  for (const t of (sel['targetList'] as unknown[] | undefined) ?? []) {
    const [, res] = kindOf(t);
    const val = res['val'];
    const [vk, v] = kindOf(val);
    if (vk === 'FuncCall') {
      const fnParts = strings(v['funcname']);
      const fn = fnParts[fnParts.length - 1]!;
      if (fnParts.length > 1 && fnParts[0] !== 'pg_catalog') refuse(`function ${fnParts.join('.')} is not supported`);
      if (!AGGREGATES.has(fn)) refuse(`function ${fn}() is not supported in the select list (count, sum, min, max, avg)`);
      if (v['agg_distinct']) refuse(`${fn}(DISTINCT …) is not supported`);
      if (v['agg_filter']) refuse(`${fn}(…) FILTER is not supported (use WHERE)`);
      if (v['agg_order']) refuse(`${fn}(… ORDER BY) is not supported`);
      if (v['over']) refuse(`window function ${fn}() OVER is not supported`);
      if (v['agg_within_group']) refuse(`${fn}() WITHIN GROUP is not supported`);
      const args = (v['args'] as unknown[] | undefined) ?? [];
      let col: string | null = null;
      if (v['agg_star']) {
        if (fn !== 'count') refuse(`${fn}(*) is not supported`);
      } else {
        if (args.length !== 1) refuse(`${fn}() takes exactly one column`);
        col = column(args[0], `${fn}()`);
      }
      const outName = (res['name'] as string | undefined) ?? fn;
      aggregates.push({ fn: fn as ViewAggregate['fn'], column: col, name: outName });
      if (names.has(outName)) refuse(`output column "${outName}" appears twice (give each aggregate an alias)`);
      names.add(outName);
    } else if (vk === 'ColumnRef') {
      const col = column(val, 'select list');
      if (!groupCols.includes(col)) refuse(`column "${col}" must appear in GROUP BY (or be aggregated)`);
      const outName = (res['name'] as string | undefined) ?? col;
      if (names.has(outName)) refuse(`output column "${outName}" appears twice`);
      names.add(outName);
      groupBy.push({ column: col, name: outName });
    } else {
      refuse(`expression ${vk} in the select list (only group columns and count/sum/min/max/avg)`);
    }
  }
  for (const g of groupCols) if (!groupBy.some((x) => x.column === g)) refuse(`GROUP BY column "${g}" must also be selected (it is the view's key)`);
  if (new Set(groupCols).size !== groupCols.length) refuse('a GROUP BY column appears twice');
  for (const n of names) if (n.startsWith('__')) refuse(`output column "${n}": names starting with __ are reserved`);

  const whereNode = (sel['whereClause'] as Node | undefined) ?? null;
  // Check the WHERE now (the deparse refuses what it cannot render safely).
  if (whereNode !== null) deparseWhere(whereNode, (c) => c, (construct) => refuse(`WHERE: ${construct}`), alias, rv['relname'] as string);
  return { name, file, table, groupBy, aggregates, where: whereNode, sql };
}

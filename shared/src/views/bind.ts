import type { Catalog, ColumnInfo, TableInfo } from '../catalog/types.ts';
import { quoteIdent } from '../sql/ident.ts';
import { ViewDefinitionError, type ViewAggregate, type ViewSpec } from './parse.ts';
import { deparseWhere } from './where.ts';

/**
 * A parsed view bound to the catalog: every column checked against the
 * exposed table, the storage layout decided (hidden columns that keep the
 * aggregates exact under deletes), identifiers quoted once.
 */

/** One aggregate with its column and storage. */
export interface BoundAggregate extends ViewAggregate {
  /** Index in the view's aggregate list: names hidden columns `__n<i>`, `__s<i>`, `__d<i>`. */
  i: number;
  col: ColumnInfo | null;
  /** SQL type of the output column. */
  type: string;
  quoted: string;
}

/** A view ready for SQL generation. */
export interface BoundView {
  spec: ViewSpec;
  name: string;
  table: TableInfo;
  group: { col: ColumnInfo; name: string; quoted: string }[];
  aggregates: BoundAggregate[];
  /** Columns of the base table the view reads (group, aggregated, WHERE), in table order. */
  columns: ColumnInfo[];
  /** The WHERE rendered over alias `r`, or null. */
  where: string | null;
  /** Names of the columns the WHERE reads. */
  whereColumns: ReadonlySet<string>;
  /** `"sluice_views"."<name>__data"`: the rows with their hidden columns. */
  data: string;
  /** `"sluice_views"."<name>__log"`: deltas of batches committed while the view is built. */
  log: string;
  /** `"sluice_views"."<name>"`: what reads see (a plain SQL view over `data`, hidden columns left out). */
  read: string;
}

const SUMMABLE = new Set(['int2', 'int4', 'int8', 'numeric']);
const ORDERED = new Set(['int2', 'int4', 'int8', 'float', 'numeric', 'text', 'timestamp', 'date', 'time']);

function sumType(c: ColumnInfo): string {
  return c.kind === 'int2' || c.kind === 'int4' ? 'bigint' : 'numeric';
}

function findTable(catalog: Catalog, name: string): TableInfo | undefined {
  const direct = catalog.get(name);
  if (direct) return direct;
  const [schema, table] = name.includes('.') ? name.split('.', 2) : ['public', name];
  for (const t of catalog.values()) if (t.schema === schema && t.table === table) return t;
  return undefined;
}

/** Bind `spec` to `catalog`; throws ViewDefinitionError naming what does not fit. */
export function bindView(spec: ViewSpec, catalog: Catalog): BoundView {
  const refuse = (construct: string): never => {
    throw new ViewDefinitionError(spec.file, construct);
  };
  const table = findTable(catalog, spec.table) ?? refuse(`table "${spec.table}" is not an exposed table (SLUICE_TABLES)`);
  const used = new Set<string>();
  const colOf = (name: string, where: string): ColumnInfo => {
    const c = table.byName.get(name) ?? refuse(`${where}: "${name}" is not a column of ${table.name}`);
    if (c.kind === 'unsupported') refuse(`${where}: column "${name}" has a type views do not support (${c.type})`);
    used.add(c.name);
    return c;
  };
  const group = spec.groupBy.map((g) => {
    const col = colOf(g.column, 'GROUP BY');
    if (col.kind === 'json') refuse(`GROUP BY: column "${col.name}" is ${col.type}, which has no equality usable as a key`);
    return { col, name: g.name, quoted: quoteIdent(g.name) };
  });
  const aggregates = spec.aggregates.map((a, i): BoundAggregate => {
    const col = a.column === null ? null : colOf(a.column, `${a.fn}()`);
    let type = 'bigint';
    if (col !== null && (a.fn === 'sum' || a.fn === 'avg')) {
      if (col.kind === 'float') refuse(`${a.fn}(${col.name}): ${col.type} is refused, floating-point sums drift when rows are removed (use numeric)`);
      if (!SUMMABLE.has(col.kind)) refuse(`${a.fn}(${col.name}): column type ${col.type} cannot be summed`);
      type = a.fn === 'sum' ? sumType(col) : 'numeric';
    }
    if (col !== null && (a.fn === 'min' || a.fn === 'max')) {
      if (!ORDERED.has(col.kind)) refuse(`${a.fn}(${col.name}): column type ${col.type} is not supported by min/max`);
      type = col.type;
    }
    return { ...a, i, col, type, quoted: quoteIdent(a.name) };
  });
  const whereColumns = new Set<string>();
  const whereCol = (n: string) => {
    const c = colOf(n, 'WHERE');
    whereColumns.add(c.name);
    return `r.${c.quoted}`;
  };
  const where = spec.where === null ? null : deparseWhere(spec.where, whereCol, (m) => refuse(`WHERE: ${m}`), spec.table.split('.').pop()!, spec.table.split('.').pop()!);
  for (const g of group) if (aggregates.some((a) => a.name === g.name)) refuse(`output column "${g.name}" appears twice`);
  const columns = table.columns.filter((c) => used.has(c.name));
  for (const c of columns) if (c.generatedAlways && !c.computed && !table.primaryKey.includes(c)) refuse(`column "${c.name}" is an identity column: views may not read it`);
  const s = quoteIdent('sluice_views');
  return { spec, name: spec.name, table, group, aggregates, columns, where, whereColumns, data: `${s}.${quoteIdent(`${spec.name}__data`)}`, log: `${s}.${quoteIdent(`${spec.name}__log`)}`, read: `${s}.${quoteIdent(spec.name)}` };
}

import type { Catalog, ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import { keyValuesOf } from '@sluice/shared/catalog/keys.ts';
import type { OpKind, WriteOp } from '@sluice/shared/queue/contract.ts';

/**
 * Batch planning: the requests of a batch, in queue order, become an ordered
 * list of multi-row statements, one per (table, op, column set) run.
 *
 * A row joins the latest statement group of its signature only when that
 * group comes after every group that already touched the same key; otherwise
 * it opens a new group at the end. So:
 * - writes to one key keep their order (insert → update → delete of a key
 *   land in three groups, in that order), and
 * - one statement never touches a key twice (no SQLSTATE 21000 "ON CONFLICT DO
 *   UPDATE command cannot affect row a second time", no double UPDATE).
 * Rows without a key (an insert whose primary key is generated) always join.
 *
 * Order across different keys may change (rows of one signature are gathered);
 * the transaction is atomic, and when that reordering trips a constraint
 * (a foreign key between two tables, say) the poison bisection falls back
 * to request-by-request order, which is the sequential semantics.
 */

/** Where a planned row came from: request index in the batch, op index in the request. */
export interface PlannedRow {
  req: number;
  op: number;
}

/** One multi-row statement to run. */
export interface StatementGroup {
  table: TableInfo;
  op: OpKind;
  /** insert/upsert: the columns given; update: the columns set; delete: none. Catalog order. */
  columns: readonly ColumnInfo[];
  rows: PlannedRow[];
}

/** The input the planner reads: a request's ops (already checked against the catalog). */
export interface PlanInput {
  ops: readonly WriteOp[];
}

interface Shape {
  signature: string;
  columns: readonly ColumnInfo[];
}

const positions = new WeakMap<TableInfo, ReadonlyMap<string, number>>();

/** Column name → position in the table, computed once per table. */
function positionsOf(table: TableInfo): ReadonlyMap<string, number> {
  let p = positions.get(table);
  if (!p) {
    p = new Map(table.columns.map((c, i) => [c.name, i]));
    positions.set(table, p);
  }
  return p;
}

/** Columns named by `names`, in catalog order (so `{a,b}` and `{b,a}` share a statement). */
export function columnsInOrder(table: TableInfo, names: readonly string[]): ColumnInfo[] {
  const pos = positionsOf(table);
  return [...names]
    .sort((a, b) => (pos.get(a) ?? 0) - (pos.get(b) ?? 0))
    .map((n) => {
      const c = table.byName.get(n);
      if (!c) throw new Error(`plan: column ${n} is not in ${table.name} (requests must be checked first)`);
      return c;
    });
}

/** The key an op writes as one string, table name included (see `keyValuesOf`). */
export function keyOf(table: TableInfo, op: WriteOp): string | null {
  const values = keyValuesOf(table, op);
  return values === null ? null : table.name + '\u0000' + values.join('\u0001');
}

/** Plan the requests (in order) into ordered statement groups. Pure. */
export function planStatements(catalog: Catalog, requests: readonly PlanInput[]): StatementGroup[] {
  const groups: StatementGroup[] = [];
  const latestBySignature = new Map<string, number>();
  const lastTouch = new Map<string, number>();
  const shapes = new Map<string, Shape>();

  for (let r = 0; r < requests.length; r++) {
    const ops = requests[r]!.ops;
    for (let o = 0; o < ops.length; o++) {
      const op = ops[o]!;
      const table = catalog.get(op.t);
      if (!table) throw new Error(`plan: table ${op.t} is not in the catalog (requests must be checked first)`);
      const shape = shapeOf(shapes, table, op);
      const key = keyOf(table, op);
      const latest = latestBySignature.get(shape.signature);
      const touched = key === null ? undefined : lastTouch.get(key);
      let g: number;
      if (latest !== undefined && (touched === undefined || latest > touched)) {
        g = latest;
      } else {
        g = groups.length;
        groups.push({ table, op: op.op, columns: shape.columns, rows: [] });
        latestBySignature.set(shape.signature, g);
      }
      groups[g]!.rows.push({ req: r, op: o });
      if (key !== null) lastTouch.set(key, g);
    }
  }
  return groups;
}

/** Signature and columns of an op, memoised on the row's own key order (rows of one client look alike). */
function shapeOf(cache: Map<string, Shape>, table: TableInfo, op: WriteOp): Shape {
  const names = op.op === 'delete' ? [] : Object.keys(op.row ?? {});
  const raw = `${op.op}\u0000${op.t}\u0000${names.join('\u0001')}`;
  let shape = cache.get(raw);
  if (!shape) {
    const columns = columnsInOrder(table, names);
    shape = { signature: `${op.op}\u0000${op.t}\u0000${columns.map((c) => c.name).join('\u0001')}`, columns };
    cache.set(raw, shape);
  }
  return shape;
}

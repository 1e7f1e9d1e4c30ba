/**
 * How the batcher turns waiting writes ("parts") into one request, and one
 * answer back into each part's own result. Pure: no I/O, no timers.
 *
 * Shapes: parts that are all inserts (or all upserts) of one table become
 * one `POST /v1/tables/{t}` with an array of rows; anything else becomes one
 * `POST /v1/batch`. Either way the gateway applies the request atomically,
 * rows in array order, and its committed answer lists `keys` and `affected`
 * per row/op — so part i's results are the slice of its rows.
 */
import { toJson } from './core.ts';
import { asBatchOps, soloRequest, tablePath, touches, type WriteOp } from './wire.ts';
import type { WireWrite } from './write-executor.ts';
import type { WriteResult } from './types.ts';

/** One caller's write waiting in the batcher. */
export interface Part {
  op: WriteOp;
  idempotencyKey: string;
  /** The caller chose the key: the part is sent alone, under that key. */
  userKey: boolean;
  /** JSON of each row (rows writes) or each batch op (other writes), made once at submission. */
  fragments: string[];
  /** Rows or ops it carries. */
  rows: number;
  /** Bytes it adds to a body. */
  bytes: number;
  /** Tables it touches; true where it does more than insert. */
  tables: Map<string, boolean>;
  resolve(r: WriteResult): void;
  reject(err: unknown): void;
}

/** A part for `op` (serialised now, so its size is known and its JSON made once). */
export function makePart(op: WriteOp, idempotencyKey: string, userKey: boolean, settle: Pick<Part, 'resolve' | 'reject'>): Part {
  const fragments = op.kind === 'rows' ? op.rows.map(toJson) : asBatchOps(op).map(toJson);
  const bytes = fragments.reduce((n, f) => n + f.length + 1, 0) + (op.kind === 'rows' ? 48 * fragments.length : 0);
  return { op, idempotencyKey, userKey, fragments, rows: fragments.length, bytes, tables: touches(op), ...settle };
}

/** All inserts, or all upserts, of one table: one POST of an array of rows. */
function oneRowsPost(parts: readonly Part[]): { table: string; op: 'insert' | 'upsert' } | null {
  const first = parts[0]!.op;
  if (first.kind !== 'rows') return null;
  for (const p of parts) if (p.op.kind !== 'rows' || p.op.table !== first.table || p.op.op !== first.op) return null;
  return { table: first.table, op: first.op };
}

function batchFragments(p: Part): string[] {
  const op = p.op;
  if (op.kind !== 'rows') return p.fragments;
  const head = `{"table":${JSON.stringify(op.table)},"op":"${op.op}","row":`;
  return p.fragments.map((row) => `${head}${row}}`);
}

/**
 * The request carrying `parts`, always with `Sluice-Ack: committed` (the
 * batcher keeps per-key order across requests and finds the part a dead
 * letter belongs to only from committed answers).
 */
export function planRequest(parts: readonly Part[], idempotencyKey: string): WireWrite {
  const base = { ack: 'committed' as const, idempotencyKey };
  const only = parts.length === 1 ? parts[0]! : undefined;
  if (only !== undefined && only.op.kind !== 'rows') return { ...soloRequest(only.op), ...base };
  const rows = oneRowsPost(parts);
  if (rows !== null) {
    const single = only !== undefined && only.op.kind === 'rows' && !only.op.many;
    const body = single ? only.fragments[0]! : `[${parts.map((p) => p.fragments.join(',')).join(',')}]`;
    return { method: 'POST', path: tablePath(rows.table), body, ...(rows.op === 'upsert' ? { headers: { prefer: 'resolution=merge-duplicates' } } : {}), ...base };
  }
  return { method: 'POST', path: '/v1/batch', body: `{"ops":[${parts.map((p) => batchFragments(p).join(',')).join(',')}]}`, ...base };
}

/** Part results of a request's answer: the slice of `keys` and `affected` that belongs to each. */
export function splitResult(result: WriteResult, parts: readonly Part[]): WriteResult[] {
  if (result.status !== 'committed') return parts.map(() => result);
  let at = 0;
  return parts.map((p) => {
    const from = at;
    at += p.rows;
    return { ...result, keys: result.keys.slice(from, at), affected: result.affected.slice(from, at) };
  });
}

/** Tables of several parts, merged (true where any part does more than insert). */
export function tablesOf(parts: readonly Part[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const p of parts) for (const [t, ordered] of p.tables) out.set(t, (out.get(t) ?? false) || ordered);
  return out;
}

/**
 * Must `later` wait for `earlier` to be answered? When both touch a table
 * and either does more than insert there: per-key order. Inserts of one
 * table may run side by side (a new row has no earlier write to overtake).
 */
export function conflicts(earlier: ReadonlyMap<string, boolean>, later: ReadonlyMap<string, boolean>): boolean {
  for (const [t, ordered] of later) {
    const e = earlier.get(t);
    if (e !== undefined && (e || ordered)) return true;
  }
  return false;
}

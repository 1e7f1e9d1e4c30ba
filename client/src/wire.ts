/**
 * Writes as the gateway's HTTP surface spells them: the request of one write
 * on its own (POST rows, PATCH, DELETE, POST /v1/batch), and the same write
 * as `/v1/batch` operations (for coalescing several writes into one request).
 */
import { toJson } from './core.ts';
import type { Key, KeyValue } from './types.ts';
import type { WireWrite } from './write-executor.ts';

/** One write a caller asked for. */
export type WriteOp =
  | { kind: 'rows'; table: string; op: 'insert' | 'upsert'; rows: readonly object[]; many: boolean }
  | { kind: 'update'; table: string; key: Key; changes: object }
  | { kind: 'delete'; table: string; key: Key }
  | { kind: 'batch'; ops: readonly BatchWireOp[] };

/** One element of `/v1/batch`'s `ops`. */
export interface BatchWireOp {
  table: string;
  op: 'insert' | 'upsert' | 'update' | 'delete';
  row?: object;
  key?: unknown;
}

/** PostgREST's spelling of an upsert on the primary key (RFC 7240 preference). */
const UPSERT = { prefer: 'resolution=merge-duplicates' };

function keyPart(v: KeyValue): string {
  return encodeURIComponent(String(v));
}

/**
 * A key as a URL path segment: each value percent-encoded (so a comma inside
 * a value stays inside it), a composite key's values joined by `,` in
 * key-column order.
 */
export function keySegment(key: Key): string {
  if (typeof key === 'object') {
    if (key.length === 0) throw new TypeError('a composite key needs its values in key-column order');
    return key.map(keyPart).join(',');
  }
  return keyPart(key);
}

/** `/v1/tables/{table}`. */
export function tablePath(table: string): string {
  return `/v1/tables/${encodeURIComponent(table)}`;
}

/** A key as JSON (bigint → string of digits). */
function keyJson(key: Key): unknown {
  const one = (v: KeyValue) => (typeof v === 'bigint' ? v.toString() : v);
  return typeof key === 'object' ? key.map(one) : one(key);
}

/** The request of `op` sent on its own (without ack and Idempotency-Key). */
export function soloRequest(op: WriteOp): Omit<WireWrite, 'ack' | 'idempotencyKey'> {
  switch (op.kind) {
    case 'rows':
      return { method: 'POST', path: tablePath(op.table), body: toJson(op.many ? op.rows : op.rows[0]), ...(op.op === 'upsert' ? { headers: UPSERT } : {}) };
    case 'update':
      return { method: 'PATCH', path: `${tablePath(op.table)}/${keySegment(op.key)}`, body: toJson(op.changes) };
    case 'delete':
      return { method: 'DELETE', path: `${tablePath(op.table)}/${keySegment(op.key)}` };
    case 'batch':
      return { method: 'POST', path: '/v1/batch', body: toJson({ ops: op.ops }) };
  }
}

/** `op` as `/v1/batch` operations (one per row). */
export function asBatchOps(op: WriteOp): readonly BatchWireOp[] {
  switch (op.kind) {
    case 'rows':
      return op.rows.map((row) => ({ table: op.table, op: op.op, row }));
    case 'update':
      return [{ table: op.table, op: 'update', key: keyJson(op.key), row: op.changes }];
    case 'delete':
      return [{ table: op.table, op: 'delete', key: keyJson(op.key) }];
    case 'batch':
      return op.ops;
  }
}

/** Rows (or ops) a write carries: what the gateway counts against its per-request limit. */
export function opCount(op: WriteOp): number {
  return op.kind === 'rows' ? op.rows.length : op.kind === 'batch' ? op.ops.length : 1;
}

/**
 * Tables a write touches, each with whether the write does more than
 * insert there (an upsert, update or delete: its order against other
 * writes of that table matters).
 */
export function touches(op: WriteOp): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const o of asBatchOps(op)) out.set(o.table, (out.get(o.table) ?? false) || o.op !== 'insert');
  return out;
}

/** The `/v1/batch` ops of a caller's `batch()` (keys to JSON). */
export function batchWireOps(ops: readonly { table: string; op: BatchWireOp['op']; row?: object; key?: Key }[]): BatchWireOp[] {
  return ops.map((o) => ({ table: o.table, op: o.op, ...(o.row !== undefined ? { row: o.row } : {}), ...(o.key !== undefined ? { key: keyJson(o.key) } : {}) }));
}

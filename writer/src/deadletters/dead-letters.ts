import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { DatabaseError, type Queryable } from '@sluice/shared/db/index.ts';
import type { WriteOutcome } from '@sluice/shared/queue/contract.ts';
import type { Rejection, WorkItem } from '../flush/types.ts';

/**
 * Dead letters: requests the database refused, kept with the error and the
 * payload in `sluice.dead_letters`, inserted in the same transaction that
 * commits the rest of their batch (so "dead" and "committed" can never both
 * be true of one request). The admin API lists, replays and deletes them.
 */

/** One request to dead-letter, and why. */
export interface DeadLetter {
  item: WorkItem;
  why: Rejection;
}

// Postgres text and jsonb cannot hold NUL (22021 / 22P05): a request dead-lettered
// for a NUL byte would fail its own dead-letter insert. Store the six characters
// "\u0000" instead; such a payload can never be applied anyway.
const NUL = /\u0000/g;
const clean = (s: string | undefined): string | null => (s === undefined ? null : s.replace(NUL, '\\u0000'));

/** The request as JSON text for the jsonb `payload` column, NUL-free. */
export function payloadJson(item: WorkItem): string {
  return JSON.stringify(item.req, (_k, v: unknown) => (typeof v === 'string' ? v.replace(NUL, '\\u0000') : v));
}

/** The API table a database error is about: the op's table whose relation the error names, else the first op's. */
function tableOf(catalog: Catalog, item: WorkItem, err: DatabaseError): string | undefined {
  for (const op of item.req.ops) {
    const t = catalog.get(op.t);
    if (t && t.table === err.table && (err.schema === undefined || t.schema === err.schema)) return t.name;
  }
  return item.req.ops[0]?.t;
}

/** A rejection from the error a request's statements raised on their own. */
export function rejectionFromError(catalog: Catalog, item: WorkItem, err: unknown): Rejection {
  if (!(err instanceof DatabaseError)) {
    return { sqlstate: 'XX000', message: err instanceof Error ? err.message : String(err), table: item.req.ops[0]?.t };
  }
  const r: Rejection = { sqlstate: err.code ?? 'XX000', message: err.message };
  const table = tableOf(catalog, item, err);
  if (table !== undefined) r.table = table;
  if (err.constraint) r.constraint = err.constraint;
  if (err.column) r.column = err.column;
  if (err.detail) r.detail = err.detail;
  return r;
}

const INSERT = `INSERT INTO sluice.dead_letters
  (write_id, job_id, table_name, sqlstate, message, constraint_name, column_name, detail, payload, attempts)
SELECT u.w, u.j, u.t, u.s, u.m, u.c, u.col, u.d, u.p::jsonb, u.a
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int[])
       AS u(w, j, t, s, m, c, col, d, p, a)
ON CONFLICT (write_id) DO NOTHING`;

/** Insert dead letters (one statement). A writeId already dead-lettered is left as it was. */
export async function insertDeadLetters(db: Queryable, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const col = (f: (d: DeadLetter) => string | undefined) => letters.map((d) => clean(f(d)));
  await db.query(INSERT, [
    letters.map((d) => d.item.req.id),
    letters.map((d) => d.item.job.id),
    col((d) => d.why.table),
    col((d) => d.why.sqlstate),
    col((d) => d.why.message),
    col((d) => d.why.constraint),
    col((d) => d.why.column),
    col((d) => d.why.detail),
    letters.map((d) => payloadJson(d.item)),
    letters.map((d) => Math.max(1, d.item.job.attempts)),
  ]);
}

/** The `dead` outcome a waiting client gets (422 at the gateway). */
export function deadOutcome(id: string, why: Rejection): WriteOutcome {
  return {
    id,
    s: 'dead',
    sqlstate: why.sqlstate,
    message: why.message,
    ...(why.constraint !== undefined ? { constraint: why.constraint } : {}),
    ...(why.column !== undefined ? { column: why.column } : {}),
  };
}

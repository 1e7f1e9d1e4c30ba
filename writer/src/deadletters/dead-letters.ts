import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { DatabaseError, type Queryable } from '@sluice/shared/db/pool.ts';
import { insertDeadLetters as insertRows, payloadJson } from '@sluice/shared/sql/dead-letters.ts';
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

/** Insert dead letters in the batch transaction (shared/src/sql/dead-letters.ts). */
export async function insertDeadLetters(db: Queryable, letters: readonly DeadLetter[]): Promise<void> {
  await insertRows(db, letters.map((d) => ({ writeId: d.item.req.id, jobId: d.item.job.id, why: d.why, payload: payloadJson(d.item.req), attempts: d.item.job.attempts })));
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

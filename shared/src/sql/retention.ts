import type { Queryable } from '../db/pool.ts';

/**
 * Retention of Sluice's dedupe records (`sluice.applied_jobs`,
 * `sluice.idempotency_keys`): batched deletes of the oldest rows.
 *
 * Why not time partitions dropped whole: the dedupe works by a unique key on
 * the job id (and on scope+key) that a redelivered job must hit whenever it
 * comes back; a partitioned table's unique key must contain the partition
 * column (applied_at), so a redelivery at another time would not conflict and
 * would apply twice. Deletes in small batches keep each statement short, lock
 * only the old rows they remove (a claim conflicts only with its own job's
 * row, which is young), and skip rows another deleter holds.
 */

// ctid batches: the subquery walks the applied_at index oldest first; the
// outer DELETE finds each row by its tid (no second index walk).
const DELETE_APPLIED = `DELETE FROM sluice.applied_jobs WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM sluice.applied_jobs WHERE applied_at < $1::timestamptz ORDER BY applied_at LIMIT $2 FOR UPDATE SKIP LOCKED))`;

const DELETE_KEYS = `DELETE FROM sluice.idempotency_keys WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM sluice.idempotency_keys WHERE created_at < $1::timestamptz ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))`;

/** Delete up to `limit` applied-job records older than `before`; returns how many went. */
export async function deleteAppliedJobsBefore(db: Queryable, before: Date, limit: number): Promise<number> {
  return (await db.query(DELETE_APPLIED, [before.toISOString(), limit])).rowCount ?? 0;
}

/** Delete up to `limit` Idempotency-Key records older than `before`; returns how many went. */
export async function deleteIdempotencyKeysBefore(db: Queryable, before: Date, limit: number): Promise<number> {
  return (await db.query(DELETE_KEYS, [before.toISOString(), limit])).rowCount ?? 0;
}

/** The shard primary's clock (retention windows are measured on it: applied_at and created_at are its now()). */
export async function databaseNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now;
}

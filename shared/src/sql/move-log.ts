import type { Queryable } from '../db/pool.ts';

/**
 * A source shard's side of a move: `sluice.active_moves` (the ranges moving
 * out; every batch transaction reads it after its statements) and
 * `sluice.move_log` (the rows batches left in those ranges, in the batch's
 * own transaction; the mover applies and deletes them).
 */

/** A range moving out of this shard. */
export interface ActiveMove {
  moveId: number;
  lo: number | null;
  hi: number | null;
  /** The cutover is verifying: no write of the range may commit here any more. */
  sealed?: boolean;
}

/** The ranges moving out of this shard (read inside a batch transaction: see the writer's move-log hook). */
export async function activeMoves(db: Queryable): Promise<ActiveMove[]> {
  const { rows } = await db.query<{ move_id: string; lo: string | null; hi: string | null; sealed: boolean }>('SELECT move_id, lo, hi, sealed FROM sluice.active_moves');
  return rows.map((r) => ({ moveId: Number(r.move_id), lo: r.lo === null ? null : Number(r.lo), hi: r.hi === null ? null : Number(r.hi), sealed: r.sealed }));
}

/** Start logging a range (idempotent). */
export async function startLogging(db: Queryable, m: ActiveMove): Promise<void> {
  await db.query('INSERT INTO sluice.active_moves (move_id, lo, hi) VALUES ($1, $2, $3) ON CONFLICT (move_id) DO NOTHING', [m.moveId, m.lo, m.hi]);
}

/** Seal (or unseal) a moving range on its source (see ActiveMove.sealed). */
export async function sealRange(db: Queryable, moveId: number, sealed: boolean): Promise<void> {
  await db.query('UPDATE sluice.active_moves SET sealed = $2 WHERE move_id = $1', [moveId, sealed]);
}

/** Stop logging a range and drop what is left of its log. */
export async function stopLogging(db: Queryable, moveId: number): Promise<void> {
  await db.query('DELETE FROM sluice.active_moves WHERE move_id = $1', [moveId]);
  await db.query('DELETE FROM sluice.move_log WHERE move_id = $1', [moveId]);
}

/**
 * Wait until every transaction that was running when this is called has
 * ended (the technique of CREATE INDEX CONCURRENTLY): after it, every batch
 * transaction either saw `active_moves` (and logs) or has committed (and a
 * snapshot taken now holds its rows). A transaction with no xid yet has
 * written nothing; it writes its job claims before it reads `active_moves`.
 */
export async function waitForRunningTransactions(db: Queryable, pollMs = 20, timeoutMs = 120_000): Promise<void> {
  const { rows } = await db.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x');
  const horizon = BigInt(rows[0]!.x);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await db.query<{ x: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS x');
    if (BigInt(r.rows[0]!.x) >= horizon) return;
    if (Date.now() > deadline) throw new Error('transactions older than the move did not end in time');
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** One logged row. */
export interface LogEntry {
  id: number;
  tbl: string;
  key: string[];
  row: string | null;
}

/**
 * The next log entries of `moveId` in id order, leaving out those the copy's
 * snapshot already holds (`snapshot`, a pg_snapshot text; null: none).
 * Entries of a transaction still running are not visible yet and come in a
 * later call; entries of one key come from one partition's transactions,
 * which commit one after another, so a key's entries are never reordered.
 */
export async function readLog(db: Queryable, moveId: number, snapshot: string | null, limit: number): Promise<{ apply: LogEntry[]; skip: number[] }> {
  const { rows } = await db.query<{ id: string; tbl: string; key: string[]; row: string | null; seen: boolean }>(
    `SELECT id, tbl, key, row, coalesce(pg_visible_in_snapshot(xid, $2::pg_snapshot), false) AS seen
       FROM sluice.move_log WHERE move_id = $1 ORDER BY id LIMIT $3`,
    [moveId, snapshot, limit],
  );
  const apply: LogEntry[] = [];
  const skip: number[] = [];
  for (const r of rows) {
    if (r.seen) skip.push(Number(r.id));
    else apply.push({ id: Number(r.id), tbl: r.tbl, key: r.key, row: r.row });
  }
  return { apply, skip };
}

/** Delete log entries that were applied (or skipped). */
export async function deleteLog(db: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) await db.query('DELETE FROM sluice.move_log WHERE id = ANY($1::bigint[])', [ids]);
}

/** Entries left in the log of `moveId`. */
export async function logBacklog(db: Queryable, moveId: number): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM sluice.move_log WHERE move_id = $1', [moveId]);
  return Number(rows[0]!.n);
}

import type { Queryable } from '../db/pool.ts';

/** What Postgres knows of one write: dead-lettered, committed (its job applied), or nothing yet. */
export type StoredStatus =
  | { status: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string; deadAt: string }
  | { status: 'committed'; token: string; committedAt: string }
  | null;

// One round trip: a dead letter of this request wins over the applied job
// (the job commits the other requests of its batch around a dead-lettered one).
// The token is the primary's current WAL insert LSN, read after the row was
// seen: ≥ the commit record (so a read with it sees the write).
const STATUS_SQL = `
SELECT d.sqlstate, d.message, d.constraint_name, d.column_name, d.created_at AS dead_at,
       a.applied_at, pg_current_wal_insert_lsn()::text AS lsn
  FROM (SELECT 1) AS one
  LEFT JOIN sluice.dead_letters d ON d.write_id = $1
  LEFT JOIN sluice.applied_jobs a ON a.job_id = $2`;

interface Row {
  sqlstate: string | null;
  message: string | null;
  constraint_name: string | null;
  column_name: string | null;
  dead_at: Date | null;
  applied_at: Date | null;
  lsn: string;
}

/** The stored status of write `writeId` of job `jobId` (on the shard the job commits to). */
export async function storedStatus(db: Queryable, writeId: string, jobId: string): Promise<StoredStatus> {
  const { rows } = await db.query<Row>(STATUS_SQL, [writeId, jobId]);
  const r = rows[0]!;
  if (r.sqlstate !== null) {
    return {
      status: 'dead',
      sqlstate: r.sqlstate,
      message: r.message ?? '',
      ...(r.constraint_name ? { constraint: r.constraint_name } : {}),
      ...(r.column_name ? { column: r.column_name } : {}),
      deadAt: r.dead_at!.toISOString(),
    };
  }
  if (r.applied_at !== null) return { status: 'committed', token: r.lsn, committedAt: r.applied_at.toISOString() };
  return null;
}

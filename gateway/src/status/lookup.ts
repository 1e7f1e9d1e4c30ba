import type { Queue } from 'bullmq';
import { parseWriteId, type Queryable, type WriteJob } from '@sluice/shared';

/** What `GET /v1/writes/{writeId}` reports. */
export type WriteStatus =
  | { writeId: string; status: 'queued'; state: string }
  | { writeId: string; status: 'committed'; token: string; committedAt: string }
  | { writeId: string; status: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string; deadAt: string };

// One round trip: a dead letter of this request wins over the applied job
// (the job commits the other requests of its batch around a dead-lettered one).
// The token is the primary's current WAL insert LSN, which is ≥ the commit record.
const STATUS_SQL = `
SELECT d.sqlstate, d.message, d.constraint_name, d.column_name, d.created_at AS dead_at,
       a.applied_at, pg_current_wal_insert_lsn()::text AS lsn
  FROM (SELECT 1) AS one
  LEFT JOIN sluice.dead_letters d ON d.write_id = $1
  LEFT JOIN sluice.applied_jobs a ON a.job_id = $2`;

interface StatusRow {
  sqlstate: string | null;
  message: string | null;
  constraint_name: string | null;
  column_name: string | null;
  dead_at: Date | null;
  applied_at: Date | null;
  lsn: string;
}

async function fromDatabase(db: Queryable, writeId: string, jobId: string): Promise<WriteStatus | null> {
  const { rows } = await db.query<StatusRow>(STATUS_SQL, [writeId, jobId]);
  const r = rows[0]!;
  if (r.sqlstate !== null) {
    return {
      writeId,
      status: 'dead',
      sqlstate: r.sqlstate,
      message: r.message ?? '',
      ...(r.constraint_name ? { constraint: r.constraint_name } : {}),
      ...(r.column_name ? { column: r.column_name } : {}),
      deadAt: r.dead_at!.toISOString(),
    };
  }
  if (r.applied_at !== null) return { writeId, status: 'committed', token: r.lsn, committedAt: r.applied_at.toISOString() };
  return null;
}

/**
 * Status of a write (ARCHITECTURE.md "Write status"): dead letter → `dead`;
 * its job in `sluice.applied_jobs` → `committed`; its job still in the
 * partition's queue → `queued`; otherwise null (→ 404). An id that is not
 * ours is null without any query.
 */
export async function lookupWriteStatus(db: Queryable, queues: readonly Queue<WriteJob>[], writeId: string): Promise<WriteStatus | null> {
  const id = parseWriteId(writeId);
  const queue = id === null ? undefined : queues[id.partition];
  if (id === null || queue === undefined) return null;
  const done = await fromDatabase(db, writeId, id.jobId);
  if (done !== null) return done;
  const job = await queue.getJob(id.jobId);
  if (job !== undefined && id.index < (job.data?.reqs?.length ?? 0)) {
    return { writeId, status: 'queued', state: await job.getState() };
  }
  // The job may have committed (and left the queue) between the two looks.
  return job === undefined ? fromDatabase(db, writeId, id.jobId) : null;
}

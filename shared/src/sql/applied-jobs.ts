import { named, type Queryable } from '../db/pool.ts';

/**
 * `sluice.applied_jobs`: one row per job applied, written in the batch's own
 * transaction so it commits or rolls back with the data (exactly once).
 */

/** What the claim needs of a job. */
export interface JobClaim {
  /** Queue job id: the dedupe key. */
  id: string;
  /** Requests it carries (kept for operators). */
  requests: number;
}

// Prepared once per connection: every batch runs it, and an unnamed statement was parsed and planned
// each time (pg_stat_statements in `pnpm bench views --statements`: 30 plans in 30 calls). Its plan
// has no choice to make (the conflict check is the primary key's), so the generic plan is the plan.
const CLAIM_JOBS = named(`INSERT INTO sluice.applied_jobs (job_id, requests)
SELECT * FROM unnest($1::text[], $2::int[]) ON CONFLICT DO NOTHING RETURNING job_id`);

/**
 * Record job ids; returns the ids recorded NOW. An id not returned was applied
 * already: the queue redelivered it (at-least-once: a writer died after
 * COMMIT, a lock expired), or another transaction committed it first — ON
 * CONFLICT waits for a concurrent inserter of the same id and skips only if
 * that one commits. Ids go in sorted so two writers claiming overlapping sets
 * lock them in one order (fewer 40P01 deadlocks). Ids must be distinct.
 */
export async function claimJobIds(db: Queryable, jobs: readonly JobClaim[]): Promise<Set<string>> {
  if (jobs.length === 0) return new Set();
  const sorted = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { rows } = await db.query<{ job_id: string }>({ ...CLAIM_JOBS, values: [sorted.map((j) => j.id), sorted.map((j) => j.requests)] });
  return new Set(rows.map((r) => r.job_id));
}

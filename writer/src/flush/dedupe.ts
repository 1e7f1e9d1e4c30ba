import type { Queryable } from '@sluice/shared/db/index.ts';
import type { BatchJob, WorkItem } from './types.ts';

/**
 * Exactly-once bookkeeping, written in the batch's own transaction so it
 * commits or rolls back with the data.
 */

/** Jobs of a batch split into those to apply now and those applied before. */
export interface ClaimedJobs {
  fresh: BatchJob[];
  skipped: BatchJob[];
}

const CLAIM_JOBS = `INSERT INTO sluice.applied_jobs (job_id, requests)
SELECT * FROM unnest($1::text[], $2::int[]) ON CONFLICT DO NOTHING RETURNING job_id`;

/**
 * Record the batch's job ids in `sluice.applied_jobs`. A job not returned was
 * applied already: BullMQ redelivered it (at-least-once: a writer died after
 * COMMIT, a lock expired), or another transaction committed it first — ON
 * CONFLICT waits for a concurrent inserter of the same id and skips only if
 * that one commits. Ids go in sorted so two writers claiming overlapping sets
 * lock them in one order (fewer 40P01 deadlocks). A job id repeated inside
 * the batch counts once.
 */
export async function claimJobs(db: Queryable, jobs: readonly BatchJob[]): Promise<ClaimedJobs> {
  const { unique, repeats } = firstOccurrences(jobs);
  if (unique.length === 0) return { fresh: [], skipped: repeats };
  const sorted = [...unique].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const { rows } = await db.query<{ job_id: string }>(CLAIM_JOBS, [sorted.map((j) => j.id), sorted.map((j) => j.data.reqs.length)]);
  const won = new Set(rows.map((r) => r.job_id));
  return {
    fresh: unique.filter((j) => won.has(j.id)),
    skipped: [...unique.filter((j) => !won.has(j.id)), ...repeats],
  };
}

/**
 * Split a batch's jobs into first occurrences and repeats of a job id. A job
 * can be in one batch twice when its lock lapsed (a long Redis stall) and
 * BullMQ handed it out again while the first copy was still waiting.
 */
export function firstOccurrences(jobs: readonly BatchJob[]): { unique: BatchJob[]; repeats: BatchJob[] } {
  const seen = new Set<string>();
  const unique: BatchJob[] = [];
  const repeats: BatchJob[] = [];
  for (const j of jobs) {
    if (seen.has(j.id)) {
      repeats.push(j);
    } else {
      seen.add(j.id);
      unique.push(j);
    }
  }
  return { unique, repeats };
}

/** Why a request with an Idempotency-Key is not applied. */
export interface IdempotencyHit {
  /** writeId of the request that first used the key. */
  of: string;
  /** The key was first used with another body (draft-ietf-httpapi-idempotency-key-header: 422). */
  mismatch: boolean;
}

const CLAIM_KEYS = `INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING RETURNING write_id`;

const READ_KEYS = `SELECT k.scope, k.key, k.request_hash, k.write_id FROM sluice.idempotency_keys k
JOIN unnest($1::text[], $2::text[]) AS u(scope, key) ON k.scope = u.scope AND k.key = u.key`;

/**
 * Record the Idempotency-Keys of the requests that carry one. Conflicting
 * requests are repeats of the stored write: the caller skips them. Within one
 * batch the first request in queue order wins (DO NOTHING keeps the first of
 * two equal keys in one statement; the stable sort keeps their order).
 */
export async function claimIdempotencyKeys(db: Queryable, items: readonly WorkItem[]): Promise<Map<WorkItem, IdempotencyHit>> {
  const hits = new Map<WorkItem, IdempotencyHit>();
  const keyed = items.filter((w) => w.req.idem !== undefined);
  if (keyed.length === 0) return hits;
  keyed.sort((a, b) => cmp(a, b));
  const idem = keyed.map((w) => w.req.idem!);
  const { rows } = await db.query<{ write_id: string }>(CLAIM_KEYS, [idem.map((k) => k.scope), idem.map((k) => k.key), idem.map((k) => k.hash), keyed.map((w) => w.req.id)]);
  const won = new Set(rows.map((r) => r.write_id));
  const lost = keyed.filter((w) => !won.has(w.req.id));
  if (lost.length === 0) return hits;
  const stored = await db.query<{ scope: string; key: string; request_hash: string; write_id: string }>(READ_KEYS, [lost.map((w) => w.req.idem!.scope), lost.map((w) => w.req.idem!.key)]);
  const byKey = new Map(stored.rows.map((r) => [`${r.scope}\u0000${r.key}`, r]));
  for (const w of lost) {
    const s = byKey.get(`${w.req.idem!.scope}\u0000${w.req.idem!.key}`);
    // The row must exist (we conflicted with it, in this snapshot or a committed one).
    if (s) hits.set(w, { of: s.write_id, mismatch: s.request_hash !== w.req.idem!.hash });
  }
  return hits;
}

function cmp(a: WorkItem, b: WorkItem): number {
  const x = `${a.req.idem!.scope}\u0000${a.req.idem!.key}`;
  const y = `${b.req.idem!.scope}\u0000${b.req.idem!.key}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

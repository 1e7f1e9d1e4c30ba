import type { Queryable } from '@sluice/shared/db/pool.ts';
import { claimJobIds } from '@sluice/shared/sql/applied-jobs.ts';
import { claimKeys, readKeys } from '@sluice/shared/sql/idempotency-keys.ts';
import type { BatchJob, WorkItem } from './types.ts';

/**
 * Exactly-once bookkeeping of a batch, written in the batch's own
 * transaction so it commits or rolls back with the data (the SQL is in
 * shared/src/sql: applied-jobs.ts, idempotency-keys.ts).
 */

/** Jobs of a batch split into those to apply now and those applied before. */
export interface ClaimedJobs {
  fresh: BatchJob[];
  skipped: BatchJob[];
}

/** Record the batch's job ids; a job not recorded now was applied before (see `claimJobIds`). */
export async function claimJobs(db: Queryable, jobs: readonly BatchJob[]): Promise<ClaimedJobs> {
  const { unique, repeats } = firstOccurrences(jobs);
  if (unique.length === 0) return { fresh: [], skipped: repeats };
  const won = await claimJobIds(db, unique.map((j) => ({ id: j.id, requests: j.data.reqs.length })));
  return {
    fresh: unique.filter((j) => won.has(j.id)),
    skipped: [...unique.filter((j) => !won.has(j.id)), ...repeats],
  };
}

/**
 * Split a batch's jobs into first occurrences and repeats of a job id. A job
 * can be in one batch twice when its lock lapsed (a long Redis stall) and
 * the log handed it out again while the first copy was still waiting.
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

const keyText = (w: WorkItem) => `${w.req.idem!.scope}\u0000${w.req.idem!.key}`;

/**
 * Record the Idempotency-Keys of the requests that carry one. Conflicting
 * requests are repeats of the stored write: the caller skips them. Within one
 * batch the first request in queue order wins (the stable sort keeps the
 * order of equal keys; the insert keeps the first).
 */
export async function claimIdempotencyKeys(db: Queryable, items: readonly WorkItem[]): Promise<Map<WorkItem, IdempotencyHit>> {
  const hits = new Map<WorkItem, IdempotencyHit>();
  const keyed = items.filter((w) => w.req.idem !== undefined);
  if (keyed.length === 0) return hits;
  // Sorted: two writers claiming overlapping keys lock them in one order.
  keyed.sort((a, b) => (keyText(a) < keyText(b) ? -1 : keyText(a) > keyText(b) ? 1 : 0));
  const won = await claimKeys(db, keyed.map((w) => ({ scope: w.req.idem!.scope, key: w.req.idem!.key, requestHash: w.req.idem!.hash, writeId: w.req.id })));
  const lost = keyed.filter((w) => !won.has(w.req.id));
  if (lost.length === 0) return hits;
  const stored = await readKeys(db, lost.map((w) => w.req.idem!));
  for (const w of lost) {
    const s = stored.get(keyText(w));
    // The row must exist (we conflicted with it, in this snapshot or a committed one).
    if (s) hits.set(w, { of: s.writeId, mismatch: s.requestHash !== w.req.idem!.hash });
  }
  return hits;
}

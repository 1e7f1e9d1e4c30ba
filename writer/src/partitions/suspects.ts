import { crashLoopRejection, MAX_SOLO_FLUSHES, SOLO_FLUSHES_FIELD } from '../deadletters/quarantine.ts';
import type { BatchJob } from '../flush/types.ts';

/**
 * Suspects: jobs delivered more than once, i.e. whose last holder died or
 * froze holding them (see deadletters/quarantine.ts for why they are flushed
 * alone and counted).
 */

/** A stretch of a batch flushed as one transaction. */
export interface Run<T> {
  suspect: boolean;
  jobs: T[];
}

/** Split a batch in queue order: consecutive non-suspects together, each suspect alone. */
export function splitSuspects<T>(jobs: readonly T[], isSuspect: (j: T) => boolean): Run<T>[] {
  const runs: Run<T>[] = [];
  for (const j of jobs) {
    const last = runs[runs.length - 1];
    if (isSuspect(j)) runs.push({ suspect: true, jobs: [j] });
    else if (last && !last.suspect) last.jobs.push(j);
    else runs.push({ suspect: false, jobs: [j] });
  }
  return runs;
}

/**
 * Count one solo flush of `job` (in the job's own log entry, through `count`)
 * before it starts, so a crash during the flush leaves the count behind;
 * past MAX_SOLO_FLUSHES the job is marked for quarantine instead.
 */
export async function countSoloFlush(count: (field: string) => Promise<number>, job: BatchJob): Promise<void> {
  const n = await count(SOLO_FLUSHES_FIELD);
  if (n > MAX_SOLO_FLUSHES) job.quarantine = crashLoopRejection(n - 1, job.attempts);
}

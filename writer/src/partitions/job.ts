import type { LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { requestRows, type WriteJob } from '@sluice/shared/queue/contract.ts';
import type { BatchJob } from '../flush/types.ts';

/** Raised for a payload this writer cannot read: the log fails the job (jobs are tried once). */
export class UnsupportedJobError extends Error {
  override readonly name = 'UnsupportedJobError';
}

/**
 * Read a log entry as a `BatchJob`. The version is checked, never guessed:
 * a payload from a newer gateway (`v` ≠ 1) fails the job (kept in the failed
 * set for an operator or a newer writer to retry), rather than being applied
 * by rules it was not written for.
 */
export function toBatchJob(entry: LogEntry): BatchJob {
  const data = entry.data as Partial<WriteJob> | null;
  if (data === null || typeof data !== 'object' || data.v !== 1) {
    throw new UnsupportedJobError(`job ${entry.id}: unsupported payload version ${JSON.stringify((data as { v?: unknown } | null)?.v)} (this writer reads v1)`);
  }
  if (!Array.isArray(data.reqs) || data.reqs.some((r) => typeof r?.id !== 'string' || !Array.isArray(r.ops))) {
    throw new UnsupportedJobError(`job ${entry.id}: malformed v1 payload (reqs must be requests with an id and ops)`);
  }
  let rows = 0;
  for (const r of data.reqs) rows += requestRows(r);
  return { id: entry.id, data: data as WriteJob, rows, attempts: entry.attempts };
}

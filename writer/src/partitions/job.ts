import type { LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { requestRows } from '@sluice/shared/queue/contract.ts';
import { readPayload } from '@sluice/shared/queue/payload.ts';
import type { BatchJob } from '../flush/types.ts';

/** Raised for a payload nobody can read (malformed): the log fails the job (jobs are tried once). */
export class UnsupportedJobError extends Error {
  override readonly name = 'UnsupportedJobError';
}

/** A log entry as the consumer sees it: a job to batch, or one written for a newer writer. */
export type ReadEntry = { kind: 'job'; job: BatchJob; version: number } | { kind: 'newer'; version: number };

/**
 * Read a log entry. The version is checked, never guessed: a payload of a
 * version above `maxVersion` (a newer gateway's) is reported as `newer`, for
 * the consumer to leave queued (partition-consumer.ts: it is a write a newer
 * writer applies, not a fault of the job). A payload of no version at all is
 * a producer's bug and fails the job (kept in the failed set for an operator).
 */
export function readEntry(entry: LogEntry, maxVersion?: number): ReadEntry {
  const p = readPayload(entry.data, maxVersion);
  if (p.kind === 'newer') return p;
  if (p.kind === 'malformed') throw new UnsupportedJobError(`job ${entry.id}: malformed payload (${p.why})`);
  let rows = 0;
  for (const r of p.job.reqs) rows += requestRows(r);
  return { kind: 'job', job: { id: entry.id, data: p.job, rows, attempts: entry.attempts }, version: p.version };
}

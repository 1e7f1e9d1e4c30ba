import { randomBytes } from 'node:crypto';

/**
 * Ids. A job id names its partition and the gateway process that made it;
 * a writeId is `${jobId}.${index}` so status lookups find the job (and its
 * partition queue) without any extra index.
 *
 *   writeId = p{partition}.{node}.{seq36}.{index36}
 *
 * `node` is random per process start: a restarted gateway must never reuse a
 * job id, because the writer dedupes on job ids (sluice.applied_jobs).
 */

/** A fresh node id: 10 base-36 chars, random per process. */
export function newNodeId(): string {
  return BigInt('0x' + randomBytes(7).toString('hex')).toString(36).padStart(11, '0').slice(-10);
}

export function jobIdOf(partition: number, nodeId: string, seq: number): string {
  return `p${partition}.${nodeId}.${seq.toString(36)}`;
}

export function writeIdOf(jobId: string, index: number): string {
  return `${jobId}.${index.toString(36)}`;
}

export interface ParsedWriteId {
  partition: number;
  jobId: string;
  index: number;
}

const WRITE_ID = /^p(\d{1,4})\.([a-z0-9]{1,16})\.([a-z0-9]{1,13})\.([a-z0-9]{1,6})$/;

/** Parse a writeId; null when it is not one of ours (→ 404, never a DB query). */
export function parseWriteId(writeId: string): ParsedWriteId | null {
  const m = WRITE_ID.exec(writeId);
  if (!m) return null;
  return { partition: Number(m[1]), jobId: `p${m[1]}.${m[2]}.${m[3]}`, index: parseInt(m[4]!, 36) };
}

import { randomBytes } from 'node:crypto';

/**
 * Ids. A job id names its partition and the gateway process that made it; a
 * writeId is `${jobId}.${index}`, so status lookups find the job (and its
 * partition's log and shard) without any extra index.
 *
 *   jobId   = <partition name>.<node>.<seq36>          e.g. main.1.3.k3j2x9a0qz.4
 *   writeId = <jobId>.<index36>                         e.g. main.1.3.k3j2x9a0qz.4.0
 *
 * `node` is random per process start: a restarted gateway must never reuse a
 * job id, because the writer dedupes on job ids (sluice.applied_jobs).
 */

/** A fresh node id: 10 base-36 chars, random per process. */
export function newNodeId(): string {
  return BigInt('0x' + randomBytes(7).toString('hex')).toString(36).padStart(11, '0').slice(-10);
}

/** The id of job number `seq` of gateway `nodeId` in partition `partition` (a partition name). */
export function jobIdOf(partition: string, nodeId: string, seq: number): string {
  return `${partition}.${nodeId}.${seq.toString(36)}`;
}

/** The writeId of request `index` of job `jobId`. */
export function writeIdOf(jobId: string, index: number): string {
  return `${jobId}.${index.toString(36)}`;
}

/** A writeId taken apart. */
export interface ParsedWriteId {
  /** The partition's name (topology/partitions.ts). */
  partition: string;
  jobId: string;
  index: number;
}

const WRITE_ID = /^([a-z][a-z0-9_-]{0,31}\.\d{1,9}\.\d{1,4})\.([a-z0-9]{1,16})\.([a-z0-9]{1,13})\.([a-z0-9]{1,6})$/;

/** Parse a writeId; null when it is not one of ours (→ 404, never a query). */
export function parseWriteId(writeId: string): ParsedWriteId | null {
  const m = WRITE_ID.exec(writeId);
  if (!m) return null;
  return { partition: m[1]!, jobId: `${m[1]}.${m[2]}.${m[3]}`, index: parseInt(m[4]!, 36) };
}

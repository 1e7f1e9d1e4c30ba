import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { formatToken } from '@sluice/shared/read/tokens.ts';
import { storedStatus } from '@sluice/shared/sql/write-status.ts';
import { parsePartitionName } from '@sluice/shared/topology/partitions.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';

/** What `GET /v1/writes/{writeId}` reports. */
export type WriteStatus =
  | { writeId: string; status: 'queued'; state: string }
  | { writeId: string; status: 'committed'; token: string; committedAt: string }
  | { writeId: string; status: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string; deadAt: string };

/** Where write statuses are read: the shards (by the writeId's partition) and the partitions' logs. */
export interface StatusSources {
  topology: Topology;
  logs: PartitionLogs;
}

/**
 * Status of a write (ARCHITECTURE.md "Write status"): its shard's dead letter
 * → `dead`; its job in `sluice.applied_jobs` → `committed`; its job still in
 * the partition's log → `queued`; otherwise null (→ 404). An id that is not
 * ours, or names a partition the shard map never had, is null without any query.
 */
export async function lookupWriteStatus(s: StatusSources, writeId: string): Promise<WriteStatus | null> {
  const id = parseWriteId(writeId);
  const ref = id === null ? null : s.topology.map.partition(id.partition);
  if (id === null || ref === null) return null;
  const db = s.topology.db(ref.shard);
  const done = await storedStatus(db, writeId, id.jobId);
  if (done !== null) return { writeId, ...qualified(s.topology, ref.shard, done) };
  const job = await s.logs.get(ref).find(id.jobId);
  if (job !== null && id.index < job.requests) return { writeId, status: 'queued', state: job.state };
  // The job may have committed (and left the log) between the two looks.
  if (job !== null) return null;
  const late = await storedStatus(db, writeId, id.jobId);
  return late === null ? null : { writeId, ...qualified(s.topology, ref.shard, late) };
}

/**
 * The write's job is still in its partition's log. With standby confirmation
 * a committed job stays there until a standby has its commit (or the
 * confirmation timed out), so a committed write whose job left the log is as
 * confirmed as the writer could make it: what a replay of `Sluice-Ack: replicated` waits for.
 */
export async function jobStillQueued(s: StatusSources, writeId: string): Promise<boolean> {
  const id = parseWriteId(writeId);
  const ref = id === null ? null : s.topology.map.partition(id.partition);
  if (id === null || ref === null) return false;
  return (await s.logs.get(ref).find(id.jobId)) !== null;
}

function qualified<T extends { status: string }>(topology: Topology, shard: string, st: T): T {
  return 'token' in st && typeof st.token === 'string' ? { ...st, token: formatToken(shard, st.token, topology.shards.length) } : st;
}

/** The consistency token of a commit at `lsn` of write `writeId`: qualified by the write's shard when there are several. */
export function tokenOfWrite(topology: Topology, writeId: string, lsn: string): string {
  const shard = parsePartitionName(parseWriteId(writeId)?.partition ?? '')?.shard ?? topology.shards[0]!.name;
  return formatToken(shard, lsn, topology.shards.length);
}

import { partitionKeyPrefix } from '../partition-log/names.ts';

/**
 * Redis keys of partition ownership: written by the writers (which take,
 * renew and release leases) and read by the gateway's admin API (which shows
 * who owns what). A partition's keys carry its queue's hash tag, so in Redis
 * Cluster they live in the queue's slot. Job ids never contain ':', so these
 * names cannot collide with BullMQ's per-job keys under the same tag.
 */

/** The lease of partition `name`: value `"<writerId> <token>"`, expiring after SLUICE_LEASE_TTL_MS. */
export function leaseKey(prefix: string, name: string): string {
  return `${partitionKeyPrefix(prefix, { name })}:lease`;
}

/** Counter behind the fencing tokens of partition `name` (INCR per acquisition, never reset). */
export function leaseTokenKey(prefix: string, name: string): string {
  return `${partitionKeyPrefix(prefix, { name })}:lease-token`;
}

/** Sorted set of live writers: member = writer id, score = heartbeat expiry (Redis time, ms). */
export function writersKey(prefix: string): string {
  return `${prefix}:sluice:writers`;
}

/** A lease value, parsed. */
export interface LeaseValue {
  owner: string;
  token: number;
}

/** `"<owner> <token>"`: the token travels with the owner so compare-and-renew checks both. */
export function formatLease(owner: string, token: number): string {
  return `${owner} ${token}`;
}

/** Parse a lease value; null for a missing or malformed one. */
export function parseLease(value: string | null | undefined): LeaseValue | null {
  if (!value) return null;
  const at = value.lastIndexOf(' ');
  const token = Number(value.slice(at + 1));
  if (at <= 0 || !Number.isSafeInteger(token)) return null;
  return { owner: value.slice(0, at), token };
}

import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * Ids. A job id names its partition and the gateway process that made it; a
 * writeId is `${jobId}.${index}`, so status lookups find the job (and its
 * partition's log and shard) without any extra index.
 *
 *   jobId   = <partition name>.<node>.<seq36>          e.g. main.1.3.k3j2x9a0qz.4
 *   writeId = <jobId>.<index36>[.<owner tag>]           e.g. main.1.3.k3j2x9a0qz.4.0.3f9c0a1b2c3d4e5f6a7b
 *
 * The owner tag (gateways always add it) is an HMAC, under SLUICE_HMAC_SECRET,
 * of the writing principal's id and the rest of the writeId: the id is not
 * guessable from another one (node id + counter alone are), and the status
 * route gives a write's status only to the principal whose tag it carries.
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

/** The writeId of request `index` of job `jobId`, with `tag` (see `ownerTag`) when given. */
export function writeIdOf(jobId: string, index: number, tag?: (base: string) => string): string {
  const base = `${jobId}.${index.toString(36)}`;
  return tag === undefined ? base : `${base}.${tag(base)}`;
}

/** Hex chars of an owner tag: 80 bits. */
const TAG_CHARS = 20;

// The secret as a KeyObject, made once: createHmac with a string key imports
// the key on every call, which was a third of the tag's cost (one per request).
let keyOf: { secret: string; key: KeyObject } | undefined;
function hmacKey(secret: string): KeyObject {
  if (keyOf?.secret !== secret) keyOf = { secret, key: createSecretKey(Buffer.from(secret)) };
  return keyOf.key;
}

/** The owner tag of writeId `base` (without its tag) written by principal `owner`: HMAC-SHA256(secret, owner NUL base). */
export function ownerTag(secret: string, owner: string, base: string): string {
  return createHmac('sha256', hmacKey(secret)).update(`${owner}\u0000${base}`).digest('hex').slice(0, TAG_CHARS);
}

/** True when `writeId` carries the owner tag of `owner` (constant time in the tag). */
export function ownedBy(secret: string, owner: string, writeId: string): boolean {
  const parsed = parseWriteId(writeId);
  if (parsed?.tag === undefined) return false;
  const base = writeId.slice(0, writeId.length - parsed.tag.length - 1);
  return timingSafeEqual(Buffer.from(ownerTag(secret, owner, base)), Buffer.from(parsed.tag));
}

/** A writeId taken apart. */
export interface ParsedWriteId {
  /** The partition's name (topology/partitions.ts). */
  partition: string;
  jobId: string;
  index: number;
  /** The owner tag, when the id has one. */
  tag?: string;
}

const WRITE_ID = /^([a-z][a-z0-9_-]{0,31}\.\d{1,9}\.\d{1,4})\.([a-z0-9]{1,16})\.([a-z0-9]{1,13})\.([a-z0-9]{1,6})(?:\.([0-9a-f]{20}))?$/;

/** Parse a writeId; null when it is not one of ours (→ 404, never a query). */
export function parseWriteId(writeId: string): ParsedWriteId | null {
  const m = WRITE_ID.exec(writeId);
  if (!m) return null;
  return { partition: m[1]!, jobId: `${m[1]}.${m[2]}.${m[3]}`, index: parseInt(m[4]!, 36), ...(m[5] !== undefined ? { tag: m[5] } : {}) };
}

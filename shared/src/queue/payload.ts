import { NEWEST_PAYLOAD_VERSION, PAYLOAD_VERSIONS, type PayloadVersion, type WriteJob, type WriteRequest } from './contract.ts';

/**
 * Writing and reading job payloads across versions (docs/PAYLOAD.md).
 *
 * A gateway writes the version it is configured for (SLUICE_PAYLOAD_VERSION),
 * never one a writer of the fleet may not read yet. A writer reads every
 * version from 1 up to the newest it knows; a newer one is not an error of
 * the job (it is a write a newer writer will apply) and is reported as
 * `newer`, so the caller can leave it queued.
 */

/** What a writer makes of a payload. */
export type ReadPayload =
  | { kind: 'ok'; job: WriteJob; version: PayloadVersion }
  /** A version above what this writer reads: leave it queued for a newer writer. */
  | { kind: 'newer'; version: number }
  /** Not a payload of any version (a bug of its producer): the job cannot be applied by anyone. */
  | { kind: 'malformed'; why: string };

/** The payload of a job holding `reqs`, in `version`. */
export function writePayload(reqs: WriteRequest[], version: PayloadVersion, build: string): WriteJob {
  return version === 1 ? { v: 1, reqs } : { v: 2, b: build, reqs };
}

/**
 * Read a payload, accepting versions 1 … `maxVersion` (at most the newest this
 * build knows: a lower cap makes this writer behave as an older build would,
 * which is how tests run old writers).
 */
export function readPayload(data: unknown, maxVersion: number = NEWEST_PAYLOAD_VERSION): ReadPayload {
  if (data === null || typeof data !== 'object') return { kind: 'malformed', why: 'not an object' };
  const d = data as { v?: unknown; b?: unknown; reqs?: unknown };
  if (typeof d.v !== 'number' || !Number.isInteger(d.v) || d.v < 1) return { kind: 'malformed', why: `version ${JSON.stringify(d.v)} is not a positive integer` };
  const cap = Math.min(maxVersion, NEWEST_PAYLOAD_VERSION);
  if (d.v > cap) return { kind: 'newer', version: d.v };
  const version = d.v as PayloadVersion;
  if (!PAYLOAD_VERSIONS.includes(version)) return { kind: 'malformed', why: `unknown version ${version}` };
  if (!Array.isArray(d.reqs) || d.reqs.some((r: { id?: unknown; ops?: unknown } | null) => typeof r?.id !== 'string' || !Array.isArray(r.ops))) {
    return { kind: 'malformed', why: `v${version}: reqs must be requests with an id and ops` };
  }
  if (version === 2 && typeof d.b !== 'string') return { kind: 'malformed', why: 'v2: b (the build id) must be a string' };
  return { kind: 'ok', job: data as WriteJob, version };
}

/** The build that wrote a job ("" before v2, which does not say). */
export function buildOf(job: WriteJob): string {
  return job.v >= 2 ? (job as { b: string }).b : '';
}

import type { LsnKey } from './lsn.ts';

/**
 * One cached row as a Redis string: a fixed-width header, then the row's JSON.
 *
 *   offset 0      kind: `v` a row, `n` no such row (negative entry or delete
 *                 tombstone), `f` fence (a write happened at `lsn`, the row's
 *                 value is unknown: read it from a source at least that new)
 *   offset 1–16   LSN the data is as new as (lsn.ts `LsnKey`, 16 hex digits)
 *   offset 17–25  soft expiry, ms since the epoch, base 36, 9 digits
 *   offset 26…    the row as JSON text (`v` only)
 *
 * A plain string keeps a cache hit at one GET and the row text is sent to the
 * client without parsing. The Lua scripts read the LSN at offsets 2–17 (Lua
 * counts from 1).
 */

/** What an entry says about its row. */
export type EntryKind = 'v' | 'n' | 'f';

/** A decoded entry. */
export interface CacheEntry {
  readonly kind: EntryKind;
  /** The data reflects every commit whose consistency token is ≤ this. */
  readonly lsn: LsnKey;
  /** After this (ms since the epoch) the entry is stale: served, and refreshed in the background. */
  readonly softUntil: number;
  /** Row JSON (`kind` 'v'), else ''. */
  readonly body: string;
}

/** Length of the header before the row JSON. */
export const ENTRY_HEADER = 26;

/** Encode an entry. */
export function encodeEntry(kind: EntryKind, lsn: LsnKey, softUntil: number, body = ''): string {
  return kind + lsn + Math.max(0, Math.floor(softUntil)).toString(36).padStart(9, '0') + (kind === 'v' ? body : '');
}

/** Decode an entry; null for a missing key or anything that is not an entry (never throws). */
export function decodeEntry(raw: string | null | undefined): CacheEntry | null {
  if (raw === null || raw === undefined || raw.length < ENTRY_HEADER) return null;
  const kind = raw[0];
  if (kind !== 'v' && kind !== 'n' && kind !== 'f') return null;
  const softUntil = parseInt(raw.slice(17, ENTRY_HEADER), 36);
  if (!Number.isFinite(softUntil)) return null;
  return { kind, lsn: raw.slice(1, 17), softUntil, body: kind === 'v' ? raw.slice(ENTRY_HEADER) : '' };
}

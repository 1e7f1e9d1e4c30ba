/**
 * Postgres WAL positions (LSNs). Postgres prints them as two 32-bit hex
 * halves, `0/16B3748`; the cache keeps them as 16 fixed-width upper-case hex
 * digits (`00000000016B3748`), so comparing two of them is a plain string
 * comparison in JavaScript and a two-number comparison in Lua.
 */

/** An LSN as 16 upper-case hex digits: sorts as a string exactly as it does as a number. */
export type LsnKey = string;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The smallest LSN: every row state is at least this new. */
export const LSN_ZERO: LsnKey = '0000000000000000';

/** True when `s` is an LSN as Postgres prints it (`0/16B3748`). */
export function isLsn(s: string): boolean {
  return LSN_TEXT.test(s);
}

/** `0/16B3748` → `00000000016B3748`; null when `s` is not an LSN. */
export function lsnKey(s: string): LsnKey | null {
  const m = LSN_TEXT.exec(s);
  if (m === null) return null;
  return m[1]!.toUpperCase().padStart(8, '0') + m[2]!.toUpperCase().padStart(8, '0');
}

/** Like `lsnKey`, for values that come from Postgres itself (throws on anything else). */
export function lsnKeyOf(s: string): LsnKey {
  const k = lsnKey(s);
  if (k === null) throw new Error(`not an LSN: ${JSON.stringify(s)}`);
  return k;
}

/** `LsnKey` → Postgres text (`0/16B3748`), for headers and logs. */
export function lsnText(k: LsnKey): string {
  return `${trimZeros(k, 0)}/${trimZeros(k, 8)}`;
}

/** The 8 hex digits at `from` without leading zeros (at least one digit); no regex: it runs per response. */
function trimZeros(k: string, from: number): string {
  let i = from;
  while (i < from + 7 && k.charCodeAt(i) === 48) i++;
  return k.slice(i, from + 8);
}

/** The larger of two LSNs (either may be undefined). */
export function maxLsn(a: LsnKey | undefined, b: LsnKey | undefined): LsnKey | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a >= b ? a : b;
}

/** `k − 1` (saturating at zero): turns "read before the snapshot" into "every token ≤ this is visible". */
export function lsnBefore(k: LsnKey): LsnKey {
  const n = BigInt('0x' + k);
  return n === 0n ? LSN_ZERO : (n - 1n).toString(16).toUpperCase().padStart(16, '0');
}

/** Bytes of WAL from `from` to `to` (0 when `to` is not ahead), as a float. */
export function lsnDistance(from: LsnKey, to: LsnKey): number {
  const d = BigInt('0x' + to) - BigInt('0x' + from);
  return d > 0n ? Number(d) : 0;
}

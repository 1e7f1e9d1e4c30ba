/**
 * Consistency tokens. Today the gateway sends a bare LSN (`0/16B3748`), which
 * means shard `main`; with sharding it may send several `shard:lsn` pairs
 * joined by commas (`s1:0/16B3748,s2:0/1A00`). A session keeps the highest
 * LSN per shard it has seen and sends the merge: a bare LSN while `main` is
 * the only shard (what today's gateway accepts), else the pairs.
 */

/** The shard a bare LSN belongs to. */
export const MAIN_SHARD = 'main';

/** An LSN as Postgres prints it: two 32-bit halves in hex. */
const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const SHARD = /^[A-Za-z0-9_.-]{1,64}$/;

/** A parsed LSN: its halves as numbers (each < 2^32, exact in a double). */
export interface Lsn {
  hi: number;
  lo: number;
}

/** Parse `0/16B3748`; null when it is not an LSN. */
export function parseLsn(text: string): Lsn | null {
  const m = LSN.exec(text);
  return m === null ? null : { hi: parseInt(m[1]!, 16), lo: parseInt(m[2]!, 16) };
}

/** Negative, zero or positive as `a` is before, at or after `b`. Plain string order would put 0/9 after 0/10. */
export function compareLsn(a: Lsn, b: Lsn): number {
  return a.hi !== b.hi ? a.hi - b.hi : a.lo - b.lo;
}

/** Postgres's spelling (`%X/%X`): upper case, no leading zeros. */
export function formatLsn(l: Lsn): string {
  return `${l.hi.toString(16).toUpperCase()}/${l.lo.toString(16).toUpperCase()}`;
}

/** A token: the LSN per shard. */
export type ShardLsns = ReadonlyMap<string, Lsn>;

/**
 * Parse a token (a bare LSN, or `shard:lsn` pairs); null when any part is
 * malformed. A shard named twice keeps its higher LSN.
 */
export function parseToken(text: string): Map<string, Lsn> | null {
  const out = new Map<string, Lsn>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const colon = part.indexOf(':');
    const shard = colon < 0 ? MAIN_SHARD : part.slice(0, colon);
    const lsn = parseLsn(colon < 0 ? part : part.slice(colon + 1));
    if (lsn === null || !SHARD.test(shard)) return null;
    const prev = out.get(shard);
    if (prev === undefined || compareLsn(lsn, prev) > 0) out.set(shard, lsn);
  }
  return out.size === 0 ? null : out;
}

/** The per-shard maximum of two tokens. */
export function mergeTokens(a: ShardLsns, b: ShardLsns): Map<string, Lsn> {
  const out = new Map(a);
  for (const [shard, lsn] of b) {
    const prev = out.get(shard);
    if (prev === undefined || compareLsn(lsn, prev) > 0) out.set(shard, lsn);
  }
  return out;
}

/** A token's text: a bare LSN when `main` is the only shard, else `shard:lsn` pairs in shard order. */
export function formatToken(t: ShardLsns): string | undefined {
  if (t.size === 0) return undefined;
  const main = t.get(MAIN_SHARD);
  if (t.size === 1 && main !== undefined) return formatLsn(main);
  return [...t.keys()]
    .sort()
    .map((shard) => `${shard}:${formatLsn(t.get(shard)!)}`)
    .join(',');
}

/** Merge token texts (malformed ones throw: they came from a caller). */
export function mergeTokenTexts(...texts: (string | undefined)[]): string | undefined {
  let acc: Map<string, Lsn> = new Map();
  for (const t of texts) {
    if (t === undefined || t === '') continue;
    const parsed = parseToken(t);
    if (parsed === null) throw new TypeError(`not a consistency token: ${JSON.stringify(t.slice(0, 100))} (expected 0/16B3748 or s1:0/16B3748,s2:0/1A00)`);
    acc = mergeTokens(acc, parsed);
  }
  return formatToken(acc);
}

/** The highest LSN per shard seen so far: what a session sends on its reads. */
export class TokenTracker {
  private lsns: Map<string, Lsn> = new Map();

  constructor(initial?: string) {
    if (initial !== undefined) this.lsns = mergeTokens(this.lsns, parseToken(initial) ?? fail(initial));
  }

  /**
   * Take in a token from a write result, a write status or a read's response
   * header. Malformed tokens from the server are ignored (a newer gateway may
   * speak a format this client does not know): they can only make reads older.
   */
  observe(text: string | null | undefined): void {
    if (!text) return;
    const parsed = parseToken(text);
    if (parsed !== null) this.lsns = mergeTokens(this.lsns, parsed);
  }

  /** The merged token, or undefined before anything was observed. */
  get value(): string | undefined {
    return formatToken(this.lsns);
  }
}

function fail(text: string): never {
  throw new TypeError(`not a consistency token: ${JSON.stringify(text.slice(0, 100))}`);
}

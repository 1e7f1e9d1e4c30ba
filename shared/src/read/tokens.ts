import { ValidationError } from '../errors/index.ts';
import { lsnKey, lsnText, type LsnKey } from './cache/lsn.ts';

/**
 * Consistency tokens across shards. A WAL position only means something on
 * the primary it came from, so a token names its shard:
 *
 *   0/16B3748                  the first shard (what a single-shard Sluice sends)
 *   s2:0/1A00                  shard s2
 *   0/16B3748,s2:0/1A00        several: a client that wrote to several shards
 *
 * A read compares only the position of the shard it reads from; positions of
 * other shards are ignored (and kept by clients that merge tokens).
 */

/** Shard → the position a read there must have reached (a bare LSN under FIRST_SHARD). */
export type ShardTokens = ReadonlyMap<string, LsnKey>;

/** Where a bare LSN is kept: it means the first shard, whatever its name. */
export const FIRST_SHARD = '';

const SHARD = /^[a-z][a-z0-9_-]{0,31}$/;

/** Parse a `Sluice-Consistency-Token` header (undefined when absent or empty); 400 when malformed. */
export function parseTokens(raw: string | undefined): ShardTokens | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const out = new Map<string, LsnKey>();
  for (const part of raw.split(',')) {
    const item = part.trim();
    const colon = item.indexOf(':');
    const shard = colon < 0 ? FIRST_SHARD : item.slice(0, colon);
    const k = lsnKey(colon < 0 ? item : item.slice(colon + 1));
    if (k === null || (colon >= 0 && !SHARD.test(shard))) {
      throw new ValidationError('Sluice-Consistency-Token must be an LSN such as 0/16B3748, or shard:LSN pairs joined by "," (from a committed write)');
    }
    const prev = out.get(shard);
    if (prev === undefined || k > prev) out.set(shard, k);
  }
  return out;
}

/** The position `tokens` ask of `shard` (the first shard also answers to a bare LSN). */
export function tokenFor(tokens: ShardTokens | undefined, shard: string, firstShard: string): LsnKey | undefined {
  if (tokens === undefined) return undefined;
  const named = tokens.get(shard);
  if (shard !== firstShard) return named;
  const bare = tokens.get(FIRST_SHARD);
  if (named === undefined || bare === undefined) return named ?? bare;
  return bare > named ? bare : named;
}

/**
 * The token of position `lsn` (Postgres text or an LsnKey) on `shard`: bare
 * while there is one shard (what clients of a single-shard Sluice always
 * got), else `shard:lsn` (a client merging tokens of several shards needs
 * every one named).
 */
export function formatToken(shard: string, lsn: string, shardCount: number): string {
  const text = lsn.includes('/') ? lsn : lsnText(lsn);
  return shardCount === 1 ? text : `${shard}:${text}`;
}

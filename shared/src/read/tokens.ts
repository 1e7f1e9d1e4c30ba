import { ValidationError } from '../errors/index.ts';
import { lsnKey, lsnText, type LsnKey } from './cache/lsn.ts';

/**
 * Consistency tokens across shards. A WAL position only means something on
 * the primary it came from, so a token names its shard:
 *
 *   0/16B3748                  the first shard (what a single-shard Sluice always sends)
 *   s2:0/1A00                  shard s2
 *   0/16B3748,s2:0/1A00        several: a client that wrote to several shards
 *
 * A read compares only the position of the shard it reads from; positions of
 * other shards are ignored (and kept by clients that merge tokens).
 */

/** Shard → the position a read there must have reached. */
export type ShardTokens = ReadonlyMap<string, LsnKey>;

const NONE: ShardTokens = new Map();

/** Parse a `Sluice-Consistency-Token` header; 400 when malformed. */
export function parseTokens(raw: string | undefined, metaShard: string): ShardTokens {
  if (raw === undefined || raw.trim() === '') return NONE;
  const out = new Map<string, LsnKey>();
  for (const part of raw.split(',')) {
    const item = part.trim();
    const colon = item.indexOf(':');
    const shard = colon < 0 ? metaShard : item.slice(0, colon);
    const k = lsnKey(colon < 0 ? item : item.slice(colon + 1));
    if (k === null || shard === '') throw new ValidationError('Sluice-Consistency-Token must be an LSN such as 0/16B3748, or shard:LSN pairs joined by "," (from a committed write)');
    const prev = out.get(shard);
    if (prev === undefined || k > prev) out.set(shard, k);
  }
  return out;
}

/** The token of position `lsn` (Postgres text or an LsnKey) on `shard`: bare on the first shard. */
export function formatToken(shard: string, lsn: string, metaShard: string): string {
  const text = lsn.includes('/') ? lsn : lsnText(lsn);
  return shard === metaShard ? text : `${shard}:${text}`;
}

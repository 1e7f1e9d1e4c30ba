import type { Redis } from 'ioredis';
import { decayLockKey, hotKeysKey, rowId } from './keys.ts';

/**
 * Key popularity for the cache warmer: gateways add sampled reads to one
 * sorted set (member = row id, score ≈ reads), the warmer halves the scores
 * every half-life (exponential decay, so yesterday's hot keys fade) and trims
 * the set to the keys worth tracking.
 */

/** Add `weight` reads of row `(table, key)` to the popularity set. Fire-and-forget safe (never rejects). */
export function recordRead(redis: Redis, prefix: string, table: string, key: readonly string[], weight = 1): Promise<void> {
  return redis.zincrby(hotKeysKey(prefix), weight, rowId(table, key)).then(
    () => undefined,
    () => undefined, // popularity is a hint: a lost sample costs nothing
  );
}

/**
 * Samples reads: one in `every` (at random, so periodic traffic is not
 * aliased) reaches Redis, weighted by `every`. `every` 0 turns it off; 1
 * records every read.
 */
export class PopularitySampler {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly every: number,
  ) {}

  /** Maybe record one read of the row with id `id` (keys.ts `rowId`). */
  recordRead(id: string): void {
    if (this.every === 0 || (this.every > 1 && Math.random() * this.every >= 1)) return;
    this.redis.zincrby(hotKeysKey(this.prefix), this.every, id).catch(() => {});
  }
}

/** The `limit` most read row ids with their scores, hottest first. */
export async function hottest(redis: Redis, prefix: string, limit: number): Promise<{ id: string; score: number }[]> {
  const flat = await redis.zrevrange(hotKeysKey(prefix), 0, limit - 1, 'WITHSCORES');
  const out: { id: string; score: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

/** Put scores back (after a Redis flush, from the warmer's last snapshot). */
export async function restorePopularity(redis: Redis, prefix: string, entries: readonly { id: string; score: number }[]): Promise<void> {
  if (entries.length === 0) return;
  const args: (string | number)[] = [];
  for (const e of entries) args.push(e.score, e.id);
  await redis.zadd(hotKeysKey(prefix), 'GT', ...args);
}

/**
 * Multiply every score by `factor` and keep the `keep` hottest members. At
 * most once per `periodMs` across all warmers (a lock key with that TTL), so
 * two warmers do not decay twice. Resolves true if this call decayed.
 */
export async function decayPopularity(redis: Redis, prefix: string, factor: number, keep: number, periodMs: number): Promise<boolean> {
  const got = await redis.set(decayLockKey(prefix), '1', 'PX', Math.max(1, Math.floor(periodMs * 0.9)), 'NX');
  if (got === null) return false;
  const key = hotKeysKey(prefix);
  await redis
    .multi()
    .zunionstore(key, 1, key, 'WEIGHTS', factor)
    .zremrangebyrank(key, 0, -(keep + 1))
    .zremrangebyscore(key, '-inf', '(0.01')
    .exec();
  return true;
}

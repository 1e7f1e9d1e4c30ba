import type { RedisClient as Redis } from '../../redis/connections.ts';
import { decayLockKey, hotKeysKey } from './keys.ts';
import { ADD_POPULARITY } from './scripts.ts';

/**
 * Key popularity for the cache warmer: gateways add their read counts to one
 * sorted set (member = row id, score ≈ reads), the warmer halves the scores
 * every half-life (exponential decay, so yesterday's hot keys fade) and trims
 * the set to the keys worth tracking.
 *
 * Bounded without a warmer too (it lives in a Redis that may be the queue's,
 * noeviction): only reads that found a row are counted (the key reader), a
 * row id longer than MAX_MEMBER_CHARS is not counted at all, and every add
 * trims the set to `maxMembers` and renews its `ttlMs` (scripts.ts).
 */

/** Settings of a `PopularityCounter`. */
export interface PopularityOptions {
  /** Count 1 in `sample` reads (at random, so periodic traffic is not aliased), weighted by `sample`; 0 = off. */
  sample: number;
  /** Send the counts to Redis this often. */
  flushMs: number;
  /** Distinct keys counted between two flushes; reads of further keys wait for the next window. */
  maxKeys?: number;
  /** Members the set keeps; each add trims it to this many (the least read go). */
  maxMembers: number;
  /** The set expires this long after the last add. */
  ttlMs: number;
}

/** Longer row ids are not counted: a 200 KB key would cost the set as much as thousands of ordinary ones. */
export const MAX_MEMBER_CHARS = 512;

const MAX_KEYS_PER_FLUSH = 50_000;
/** Keys per script call: ~1 ms of Redis time each, so other clients are not held up. */
const FLUSH_CHUNK = 1000;

/**
 * Counts key reads in this process and adds them to the popularity set once
 * per `flushMs`, in one script call per 1,000 distinct keys. A Redis command
 * for every 4th read had cost cache hits about a fifth of their throughput
 * (`pnpm bench read`); a hot key read thousands of times a second is now one
 * increment a second. The warmer ranks keys over minutes: a second's delay costs it nothing.
 */
export class PopularityCounter {
  private counts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxKeys: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly o: PopularityOptions,
  ) {
    this.maxKeys = o.maxKeys ?? MAX_KEYS_PER_FLUSH;
  }

  /** Maybe count one read of the row with id `id` (keys.ts `rowId`). */
  recordRead(id: string): void {
    const every = this.o.sample;
    if (id.length > MAX_MEMBER_CHARS) return;
    if (every === 0 || (every > 1 && Math.random() * every >= 1)) return;
    const n = this.counts.get(id);
    if (n !== undefined) this.counts.set(id, n + every);
    else if (this.counts.size < this.maxKeys) this.counts.set(id, every);
  }

  /** Flush every `flushMs` until stop(). */
  start(): void {
    if (this.timer !== undefined || this.o.sample === 0) return;
    this.timer = setInterval(() => void this.flush(), this.o.flushMs);
    this.timer.unref();
  }

  /** Add what was counted since the last flush to the popularity set. Never rejects: popularity is a hint. */
  async flush(): Promise<void> {
    if (this.counts.size === 0) return;
    const batch = this.counts;
    this.counts = new Map();
    const key = [hotKeysKey(this.prefix)];
    const bounds = [this.o.maxMembers, this.o.ttlMs];
    const calls: Promise<unknown>[] = [];
    let args: (string | number)[] = [...bounds];
    for (const [id, n] of batch) {
      args.push(n, id);
      if (args.length >= FLUSH_CHUNK * 2) {
        calls.push(ADD_POPULARITY.run(this.redis, key, args));
        args = [...bounds];
      }
    }
    if (args.length > bounds.length) calls.push(ADD_POPULARITY.run(this.redis, key, args));
    await Promise.all(calls).catch(() => {});
  }

  /** Stop the timer and send what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
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
export async function restorePopularity(redis: Redis, prefix: string, entries: readonly { id: string; score: number }[], ttlMs: number): Promise<void> {
  if (entries.length === 0) return;
  const args: (string | number)[] = [];
  for (const e of entries) args.push(e.score, e.id);
  await redis.multi().zadd(hotKeysKey(prefix), 'GT', ...args).pexpire(hotKeysKey(prefix), ttlMs).exec();
}

/**
 * Multiply every score by `factor` and keep the `keep` hottest members. At
 * most once per `periodMs` across all warmers (a lock key with that TTL), so
 * two warmers do not decay twice. Resolves true if this call decayed.
 */
export async function decayPopularity(redis: Redis, prefix: string, factor: number, keep: number, periodMs: number, ttlMs: number): Promise<boolean> {
  const got = await redis.set(decayLockKey(prefix), '1', 'PX', Math.max(1, Math.floor(periodMs * 0.9)), 'NX');
  if (got === null) return false;
  const key = hotKeysKey(prefix);
  await redis
    .multi()
    .zunionstore(key, 1, key, 'WEIGHTS', factor)
    .zremrangebyrank(key, 0, -(keep + 1))
    .zremrangebyscore(key, '-inf', '(0.01')
    // ZUNIONSTORE replaced the key, and its TTL with it.
    .pexpire(key, ttlMs)
    .exec();
  return true;
}

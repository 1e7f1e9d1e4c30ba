import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { formatLease, leaseKey, leaseTokenKey, parseLease, writersKey, type LeaseValue } from '@sluice/shared/queue/leases.ts';

/**
 * The Redis side of partition ownership: one Lua script per step, each
 * touching the keys of one partition (one Cluster slot) or the writer set.
 *
 * - acquire: if the lease key is absent, INCR the partition's token counter
 *   and `SET lease "<owner> <token>" PX ttl` (the `SET NX PX` of the classic
 *   lock, with the fencing token taken in the same atomic step).
 * - renew: compare-and-PEXPIRE (only the holder of that exact value renews).
 * - release: compare-and-DEL.
 * - heartbeat: the writer set is a sorted set scored by expiry in Redis
 *   time, so every writer judges liveness by one clock.
 */

const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// After a Redis that lost its data (no AOF) the counter restarts below the
// tokens Postgres has seen; every acquisition would then be fenced out.
const RAISE_FLOOR = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)`;

type Script = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Redis & Record<'sluiceLeaseAcquire' | 'sluiceLeaseRenew' | 'sluiceLeaseRelease' | 'sluiceLeaseFloor' | 'sluiceHeartbeat', Script>;

/** Lease operations on one Redis connection (the caller opens and closes it). */
export class LeaseStore {
  private readonly r: Scripted;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    const define = (name: string, numberOfKeys: number, lua: string) => redis.defineCommand(name, { numberOfKeys, lua });
    define('sluiceLeaseAcquire', 2, ACQUIRE);
    define('sluiceLeaseRenew', 1, RENEW);
    define('sluiceLeaseRelease', 1, RELEASE);
    define('sluiceLeaseFloor', 1, RAISE_FLOOR);
    define('sluiceHeartbeat', 1, HEARTBEAT);
    this.r = redis as Scripted;
  }

  /** Take the lease of partition `p` if free: the new fencing token, or 0 when someone holds it. */
  async acquire(p: string, owner: string): Promise<number> {
    return Number(await this.r.sluiceLeaseAcquire(leaseKey(this.prefix, p), leaseTokenKey(this.prefix, p), owner, this.ttlMs));
  }

  /** Extend our lease; false when it is no longer ours (expired, or someone else's now). */
  async renew(p: string, owner: string, token: number): Promise<boolean> {
    return Number(await this.r.sluiceLeaseRenew(leaseKey(this.prefix, p), formatLease(owner, token), this.ttlMs)) === 1;
  }

  /** Delete our lease (no-op when it is not ours any more). */
  async release(p: string, owner: string, token: number): Promise<void> {
    await this.r.sluiceLeaseRelease(leaseKey(this.prefix, p), formatLease(owner, token));
  }

  /** Make the next token of `p` greater than `token`. */
  async raiseFloor(p: string, token: number): Promise<void> {
    await this.r.sluiceLeaseFloor(leaseTokenKey(this.prefix, p), token);
  }

  /** Refresh our heartbeat (or drop it when `alive` is false); the live writers, sorted. */
  async heartbeat(owner: string, alive = true): Promise<string[]> {
    const live = (await this.r.sluiceHeartbeat(writersKey(this.prefix), owner, this.ttlMs, alive ? '1' : '0')) as string[];
    return [...live].sort();
  }

  /** Current holder of each partition's lease (null: free), aligned with `partitions`. */
  async owners(partitions: readonly string[]): Promise<(LeaseValue | null)[]> {
    const values = await Promise.all(partitions.map((p) => this.r.get(leaseKey(this.prefix, p))));
    return values.map(parseLease);
  }
}

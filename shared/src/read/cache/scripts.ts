import { createHash } from 'node:crypto';
import type { RedisClient as Redis } from '../../redis/connections.ts';

/**
 * The cache's Lua scripts. Each runs atomically on the Redis node holding its
 * keys (entry and lease share a hash tag, see keys.ts), which is what makes
 * "compare the LSN, then set" one step: no fill can slip in between.
 *
 * LSNs are compared as two 32-bit numbers, not as strings: Lua's string `<`
 * uses strcoll, and Redis sets LC_COLLATE from its environment.
 */

const LSN_GE = `
local function lsn_ge(a, b)
  local ah, bh = tonumber(string.sub(a, 1, 8), 16), tonumber(string.sub(b, 1, 8), 16)
  if ah ~= bh then return ah > bh end
  return tonumber(string.sub(a, 9, 16), 16) >= tonumber(string.sub(b, 9, 16), 16)
end
-- May entry 'new' replace entry 'cur'? Only when it is at least as new (entry.ts: LSN at 2..17).
local function newer_or_same(new, cur)
  if not cur or string.len(cur) < 26 then return true end
  return lsn_ge(string.sub(new, 2, 17), string.sub(cur, 2, 17))
end
`;

/** A script run by EVALSHA, falling back to EVAL once when Redis does not know it yet. */
export class LuaScript {
  readonly sha: string;
  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Run with `keys` and `args`. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // A Redis error reply starts with its code (RESP "simple errors"):
      // NOSCRIPT after a restart, SCRIPT FLUSH or on a fresh node.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Take the fill leases of rows, one row after another in one call (the
 * misses of concurrent requests travel together: store.ts batches them).
 * KEYS: entry₁, lease₁, entry₂, lease₂, … ARGV: lease ms, mode₁, mode₂, …
 * Mode `miss` first looks at the entry: a row or tombstone there (someone
 * filled it meanwhile) is returned instead of a lease; a fence is not data.
 * Mode `refresh` (stale-while-revalidate, the warmer) only takes the lease.
 * The fencing token is the Redis clock in µs: leases of one key never
 * overlap (SET NX), so each new holder's token is larger than the last.
 *
 * Returns, per row, {1, entry} | {2, token, entry|nil} | {3, lease pttl, entry|nil}.
 */
export const ACQUIRE = new LuaScript(
  'acquire',
  `
local t = redis.call('TIME')
local token = t[1] .. string.format('%06d', tonumber(t[2]))
local out = {}
for i = 1, #KEYS / 2 do
  local ek, lk = KEYS[2 * i - 1], KEYS[2 * i]
  local e = false
  local r = nil
  if ARGV[1 + i] == 'miss' then
    e = redis.call('GET', ek)
    if e and string.sub(e, 1, 1) ~= 'f' then r = {1, e} end
  end
  if not r then
    if redis.call('SET', lk, token, 'NX', 'PX', ARGV[1]) then r = {2, token, e}
    else r = {3, tostring(redis.call('PTTL', lk)), e} end
  end
  out[i] = r
end
return out
`,
);

/**
 * Store filled entries, one row after another in one call: each unless the
 * cached one is newer (compare-and-set on LSN), releasing the row's lease if
 * the caller holds it. KEYS: entry₁, lease₁, … ARGV: entry₁, ttl₁ ms,
 * fencing token₁ ('' = filled without a lease), …
 * A caller whose lease lapsed and was taken by another reader is fenced off:
 * the new holder fills.
 *
 * Returns, per row, {1} stored | {2, newer entry} kept the newer | {0, entry|nil} fenced.
 */
export const FILL = new LuaScript(
  'fill',
  `${LSN_GE}
local out = {}
for i = 1, #KEYS / 2 do
  local ek, lk = KEYS[2 * i - 1], KEYS[2 * i]
  local new, ttl, tok = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  local r = nil
  local held = false
  local cur
  if tok ~= '' then
    local v = redis.call('MGET', lk, ek)
    cur = v[2]
    if v[1] and v[1] ~= tok then r = {0, cur} end
    held = (v[1] == tok)
  else
    cur = redis.call('GET', ek)
  end
  if not r then
    if newer_or_same(new, cur) then
      redis.call('SET', ek, new, 'PX', ttl)
      r = {1}
    else
      r = {2, cur}
    end
    if held then redis.call('DEL', lk) end
  end
  out[i] = r
end
return out
`,
);

/** Release a lease the caller still holds (its load failed). KEYS: lease. ARGV: token. */
export const RELEASE = new LuaScript(
  'release',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * Write-through after a commit: per entry, set it unless the cached one is
 * newer. KEYS: entries. ARGV: entry₁, ttl₁ ms, entry₂, ttl₂ ms, …
 * Returns how many were stored.
 */
export const WRITE_THROUGH = new LuaScript(
  'write-through',
  `${LSN_GE}
local n = 0
for i = 1, #KEYS do
  local new = ARGV[2 * i - 1]
  if newer_or_same(new, redis.call('GET', KEYS[i])) then
    redis.call('SET', KEYS[i], new, 'PX', ARGV[2 * i])
    n = n + 1
  end
end
return n
`,
);

/**
 * WRITE_THROUGH for a Redis Cluster node: the same compare-and-set per entry,
 * over entries of many slots that one master serves (every row has its own
 * hash tag, so a batch's rows fall on many slots, and one call per slot is
 * one script run per row). Redis refuses declared keys of several slots
 * (CROSSSLOT), so only the first entry is declared: it routes the call to
 * its master and Redis checks that node serves it. The others ride in ARGV,
 * allowed by the Redis 7 `allow-cross-slot-keys` flag as long as they are on
 * that node; one that is not (the client's slot map was stale, a slot is
 * migrating) fails the call with an error reply, after the entries before it
 * were set. Setting them again is harmless (same LSN), which is how the
 * caller recovers: one call per slot (write-through.ts).
 * KEYS: entry₁. ARGV: entry key₁, entry₁, ttl₁ ms, entry key₂, … Returns how many were stored.
 */
export const WRITE_THROUGH_NODE = new LuaScript(
  'write-through-node',
  `#!lua flags=allow-cross-slot-keys
${LSN_GE}
local n = 0
for i = 1, #ARGV, 3 do
  local k, new = ARGV[i], ARGV[i + 1]
  if newer_or_same(new, redis.call('GET', k)) then
    redis.call('SET', k, new, 'PX', ARGV[i + 2])
    n = n + 1
  end
end
return n
`,
);

/**
 * Add read counts to the popularity set and keep it bounded. KEYS: the set.
 * ARGV: maxMembers, ttlMs, count₁, id₁, count₂, id₂, … One call per gateway
 * flush instead of a ZINCRBY each: the ioredis command objects of thousands
 * of distinct keys a second cost a miss-heavy gateway more than the reads
 * they counted. The add trims the set itself (the least read members go) and
 * renews its TTL: without a warmer nothing else would, and the set lives in a
 * Redis that may be the queue's (noeviction), where unbounded growth ends in
 * refused writes.
 */
export const ADD_POPULARITY = new LuaScript(
  'add-popularity',
  `
for i = 3, #ARGV, 2 do redis.call('ZINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return (#ARGV - 2) / 2
`,
);

import type { RedisClient as Redis } from '../redis/connections.ts';

/**
 * The gateways alive and the shard-map version each routes with, in one
 * Redis sorted set: member `<version>|<nodeId>`, score = heartbeat expiry in
 * Redis time (ms), so every process judges liveness by one clock. Writers
 * read the oldest version in use before closing an epoch (epochs.ts): no
 * epoch closes while a live gateway may still append to it. A gateway
 * reports a new version only after everything it routed with the old one is
 * in Redis (see the gateway's map follower).
 */

/** The registry's key. */
export function gatewaysKey(prefix: string): string {
  return `${prefix}:sluice:gateways`;
}

const BEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) end
return 1`;

const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')`;

/** One gateway's heartbeat (call it every renew period; `leave` on shutdown). */
export class GatewayBeat {
  private member = '';

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly ttlMs: number,
  ) {}

  /** Say "alive, routing with map `version`" for the next `ttlMs`. */
  async beat(version: number): Promise<void> {
    const next = `${version}|${this.nodeId}`;
    await this.redis.eval(BEAT, 1, gatewaysKey(this.prefix), this.member === next ? '' : this.member, next, this.ttlMs);
    this.member = next;
  }

  /** Leave the registry (graceful shutdown). */
  async leave(): Promise<void> {
    if (this.member === '') return;
    await this.redis.eval(BEAT, 1, gatewaysKey(this.prefix), this.member, '', 0);
    this.member = '';
  }
}

/** Live gateways: node id → the map version it routes with. */
export async function liveGateways(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const members = (await redis.eval(LIVE, 1, gatewaysKey(prefix))) as string[];
  const out = new Map<string, number>();
  for (const m of members) {
    const bar = m.indexOf('|');
    const node = m.slice(bar + 1);
    const v = Number(m.slice(0, bar));
    // A gateway that just moved on may briefly show twice: its oldest version counts.
    out.set(node, Math.min(v, out.get(node) ?? v));
  }
  return out;
}

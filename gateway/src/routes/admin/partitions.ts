import type { Hono } from 'hono';
import { NotFoundError, UnavailableError } from '@sluice/shared/errors/index.ts';
import type { PartitionLogs, LogCounts } from '@sluice/shared/partition-log/partition-log.ts';
import { leaseKey, parseLease, writersKey } from '@sluice/shared/queue/leases.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { fenceTokens } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';

/** What the partition routes need. */
export interface PartitionRouteDeps {
  topology: Topology;
  logs: PartitionLogs;
  /** The gateway's producer connection (leases and the writer set are read with it). */
  redis: Redis;
  prefix: string;
  lease: { ttlMs: number; renewMs: number };
}

/** One partition as `GET /v1/admin/partitions` shows it. */
export interface PartitionView {
  /** `<shard>.<epoch>.<index>` */
  partition: string;
  shard: string;
  epoch: number;
  /** Writers consume it now (its shard's oldest open epoch); else it waits for an older epoch to drain. */
  consumable: boolean;
  /** Writer id holding the lease (`host:pid:random`), or null when free. */
  owner: string | null;
  /** Fencing token of the current lease. */
  token: number | null;
  /** When the lease lapses unless renewed. */
  leaseExpiresAt: string | null;
  /** The token Postgres checks in every batch transaction (the last owner's). */
  fencedToken: number | null;
  /** Paused by an operator (no writer takes jobs from it). */
  paused: boolean;
  /** Jobs by state; `backlog` is what still needs a writer. */
  jobs: Omit<LogCounts, 'backlog'>;
  backlog: number;
  /** Writes (requests) and payload bytes in the backlog (partition-log.ts `sizes`). */
  writes: number;
  bytes: number;
  /** Age of the oldest job still in the log (taken or waiting), by the gateways' clocks; null when empty. */
  oldestJobAgeMs: number | null;
}

async function redisNow(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

async function viewOf(d: PartitionRouteDeps, r: PartitionRef, now: number, fenced: Map<string, number>, consumable: Set<string>): Promise<PartitionView> {
  const log = d.logs.get(r);
  const key = leaseKey(d.prefix, r.name);
  const [value, pttl, counts, paused, size, oldest] = await Promise.all([d.redis.get(key), d.redis.pttl(key), log.counts(), log.isPaused(), log.sizes(), log.oldestAppendedAt()]);
  const lease = parseLease(value);
  const { backlog, ...jobs } = counts;
  return {
    partition: r.name,
    shard: r.shard,
    epoch: r.epoch,
    consumable: consumable.has(r.name),
    owner: lease?.owner ?? null,
    token: lease?.token ?? null,
    leaseExpiresAt: lease && pttl > 0 ? new Date(now + pttl).toISOString() : null,
    fencedToken: fenced.get(r.name) ?? null,
    paused,
    jobs,
    backlog,
    writes: size.writes,
    bytes: size.bytes,
    oldestJobAgeMs: oldest === null ? null : Math.max(0, Date.now() - oldest),
  };
}

/** Every partition that may hold jobs, the live writers, the lease settings and the layout. */
export async function overview(d: PartitionRouteDeps, only?: readonly PartitionRef[]): Promise<Record<string, unknown>> {
  const map = d.topology.map;
  const parts = only ?? map.live();
  // The producer fails fast while disconnected; say so instead of a 500.
  if (d.redis.status !== 'ready') throw new UnavailableError('Redis is not reachable; partition state unknown', 1);
  const fences = await Promise.all(map.shardNames.map((s) => fenceTokens(d.topology.db(s))));
  const fenced = new Map(fences.flatMap((m) => [...m]));
  const consumable = new Set(map.consumable().map((r) => r.name));
  const [now, beats] = await Promise.all([redisNow(d.redis), d.redis.zrange(writersKey(d.prefix), 0, -1, 'WITHSCORES')]);
  const partitions = await Promise.all(parts.map((r) => viewOf(d, r, now, fenced, consumable)));
  const writers = [];
  for (let i = 0; i + 1 < beats.length; i += 2) {
    const id = beats[i]!;
    const expires = Number(beats[i + 1]);
    if (expires <= now) continue; // dead, not yet swept by a live writer
    writers.push({ id, heartbeatExpiresAt: new Date(expires).toISOString(), partitions: partitions.filter((v) => v.owner === id).map((v) => v.partition) });
  }
  return {
    partitions,
    writers,
    lease: { ttlMs: d.lease.ttlMs, renewMs: d.lease.renewMs, takeoverBoundMs: d.lease.ttlMs + d.lease.renewMs },
    layout: { version: map.version, shards: map.doc.shards },
  };
}

/** `:p` names a partition (`main.1.3`), or is a bare index into the current epoch of the first shard. */
function partitionParam(c: Ctx, d: PartitionRouteDeps): PartitionRef {
  const v = c.req.param('p') ?? '';
  const map = d.topology.map;
  const ref = /^\d{1,4}$/.test(v) ? (map.routable(map.metaShard)[Number(v)] ?? null) : map.partition(v);
  if (ref === null) throw new NotFoundError(`no partition ${JSON.stringify(v.slice(0, 40))} (see GET /v1/admin/partitions)`);
  return ref;
}

/**
 * POST …/pause|resume for one partition (`:p`) or all live ones: seen by
 * every writer. The action is a parameter, not a literal segment: literal
 * `pause` beside `:p` at the same depth would push Hono onto its slower trie
 * router for every request (app.ts).
 */
function pauseOrResume(d: PartitionRouteDeps) {
  return async function pauseOrResume(c: Ctx): Promise<Response> {
    const action = c.req.param('action');
    if (action !== 'pause' && action !== 'resume') throw new NotFoundError(`no partition action ${JSON.stringify((action ?? '').slice(0, 20))} (pause or resume)`);
    const parts = c.req.param('p') === undefined ? d.topology.map.live() : [partitionParam(c, d)];
    // Pausing stops writers from taking jobs; active ones finish. Writes still queue (backpressure applies).
    await Promise.all(parts.map((r) => (action === 'pause' ? d.logs.get(r).pause() : d.logs.get(r).resume())));
    return c.json(await overview(d, parts));
  };
}

/** Mount the partition admin routes (the caller checks the admin scope). */
export function partitionRoutes(app: Hono<GatewayEnv>, d: PartitionRouteDeps): void {
  app.get('/v1/admin/partitions', async function listPartitions(c) {
    return c.json(await overview(d));
  });
  app.post('/v1/admin/partitions/:action', pauseOrResume(d));
  app.post('/v1/admin/partitions/:p/:action', pauseOrResume(d));
}

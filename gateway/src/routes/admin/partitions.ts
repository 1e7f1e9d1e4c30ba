import type { Hono } from 'hono';
import type { Queue } from 'bullmq';
import { NotFoundError, UnavailableError, type Config, type Queryable, type Redis, type WriteJob } from '@sluice/shared';
import { leaseKey, parseLease, writersKey } from '@sluice/shared/queue/leases.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';

/** What the partition routes need. */
export interface PartitionRouteDeps {
  config: Readonly<Config>;
  /** The gateway's producer connection (leases and the writer set are read with it). */
  redis: Redis;
  db: Queryable;
  /** One queue per partition, index = partition. */
  queues: readonly Queue<WriteJob>[];
}

/** One partition as `GET /v1/admin/partitions` shows it. */
export interface PartitionView {
  partition: number;
  /** Writer id holding the lease (`host:pid:random`), or null when free. */
  owner: string | null;
  /** Fencing token of the current lease. */
  token: number | null;
  /** When the lease lapses unless renewed. */
  leaseExpiresAt: string | null;
  /** The token Postgres checks in every batch transaction (the last owner's). */
  fencedToken: number | null;
  /** BullMQ queue paused (no writer takes jobs from it). */
  paused: boolean;
  /** Jobs by state; `backlog` is what still needs a writer. */
  jobs: Record<string, number>;
  backlog: number;
}

const COUNTED = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'failed'] as const;
const PENDING = ['wait', 'active', 'delayed', 'prioritized', 'paused'] as const;

async function redisNow(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

async function viewOf(d: PartitionRouteDeps, p: number, now: number, fenced: Map<number, number>): Promise<PartitionView> {
  const q = d.queues[p]!;
  const key = leaseKey(d.config.SLUICE_QUEUE_PREFIX, p);
  const [value, pttl, jobs, paused] = await Promise.all([d.redis.get(key), d.redis.pttl(key), q.getJobCounts(...COUNTED), q.isPaused()]);
  const lease = parseLease(value);
  return {
    partition: p,
    owner: lease?.owner ?? null,
    token: lease?.token ?? null,
    leaseExpiresAt: lease && pttl > 0 ? new Date(now + pttl).toISOString() : null,
    fencedToken: fenced.get(p) ?? null,
    paused,
    jobs,
    backlog: PENDING.reduce((n, s) => n + (jobs[s] ?? 0), 0),
  };
}

/** Every partition, the live writers and the lease settings. */
async function overview(d: PartitionRouteDeps, only?: readonly number[]): Promise<Record<string, unknown>> {
  const parts = only ?? d.queues.map((_, p) => p);
  // The producer fails fast while disconnected; say so instead of a 500.
  if (d.redis.status !== 'ready') throw new UnavailableError('Redis is not reachable; partition state unknown', 1);
  const [now, beats, fenced] = await Promise.all([
    redisNow(d.redis),
    d.redis.zrange(writersKey(d.config.SLUICE_QUEUE_PREFIX), 0, -1, 'WITHSCORES'),
    d.db.query<{ partition: number; token: string }>('SELECT partition, token FROM sluice.partition_leases').then((r) => new Map(r.rows.map((x) => [x.partition, Number(x.token)]))),
  ]);
  const partitions = await Promise.all(parts.map((p) => viewOf(d, p, now, fenced)));
  const writers = [];
  for (let i = 0; i + 1 < beats.length; i += 2) {
    const id = beats[i]!;
    const expires = Number(beats[i + 1]);
    if (expires <= now) continue; // dead, not yet swept by a live writer
    writers.push({ id, heartbeatExpiresAt: new Date(expires).toISOString(), partitions: partitions.filter((v) => v.owner === id).map((v) => v.partition) });
  }
  const c = d.config;
  return {
    partitions,
    writers,
    lease: { ttlMs: c.SLUICE_LEASE_TTL_MS, renewMs: c.SLUICE_LEASE_RENEW_MS, takeoverBoundMs: c.SLUICE_LEASE_TTL_MS + c.SLUICE_LEASE_RENEW_MS },
  };
}

function partitionParam(c: Ctx, d: PartitionRouteDeps): number {
  const v = c.req.param('p') ?? '';
  if (!/^\d{1,4}$/.test(v) || Number(v) >= d.queues.length) throw new NotFoundError(`no partition ${JSON.stringify(v.slice(0, 10))} (there are ${d.queues.length})`);
  return Number(v);
}

/**
 * POST …/pause|resume for one partition (`:p`) or all: BullMQ's queue pause,
 * seen by every writer. The action is a parameter, not a literal segment:
 * literal `pause` beside `:p` at the same depth would push Hono onto its
 * slower trie router for every request (app.ts).
 */
function pauseOrResume(d: PartitionRouteDeps) {
  return async function pauseOrResume(c: Ctx): Promise<Response> {
    const action = c.req.param('action');
    if (action !== 'pause' && action !== 'resume') throw new NotFoundError(`no partition action ${JSON.stringify((action ?? '').slice(0, 20))} (pause or resume)`);
    const parts = c.req.param('p') === undefined ? d.queues.map((_, p) => p) : [partitionParam(c, d)];
    // Pausing stops writers from taking jobs; active ones finish. Writes still queue (backpressure applies).
    await Promise.all(parts.map((p) => (action === 'pause' ? d.queues[p]!.pause() : d.queues[p]!.resume())));
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

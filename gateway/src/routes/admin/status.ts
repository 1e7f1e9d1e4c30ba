import type { Hono } from 'hono';
import type { GatewayEnv } from '../../context.ts';
import { overview, type PartitionRouteDeps } from './partitions.ts';

/** What `GET /v1/admin/status` gathers besides the partitions. */
export interface StatusRouteDeps {
  partitions: PartitionRouteDeps;
  /** Pending dead letters (null: Postgres did not answer). */
  deadLetters(): Promise<number | null>;
  /** Replica state and lag per shard, as the read path sees it. */
  replicas(): unknown;
  /** Successful writes and reads a second over the last 10 s, on this gateway. */
  rates(): { writesPerSec: number; readsPerSec: number };
  /** SLUICE_MAX_QUEUE_* limits, to show the backlog against them. */
  limits: { jobs: number; writes: number; bytes: number };
}

/**
 * GET /v1/admin/status: the operator's one look (`pnpm sluice status`):
 * partitions with owners, backlog in jobs, writes and bytes and the age of
 * the oldest job; live writers; replicas and their lag; dead letters; this
 * gateway's write and read rates.
 */
export function statusRoutes(app: Hono<GatewayEnv>, d: StatusRouteDeps): void {
  app.get('/v1/admin/status', async function adminStatus(c) {
    const [parts, deadLetters] = await Promise.all([overview(d.partitions), d.deadLetters()]);
    const views = parts.partitions as { backlog: number; writes: number; bytes: number; oldestJobAgeMs: number | null }[];
    const ages = views.map((v) => v.oldestJobAgeMs).filter((a): a is number => a !== null);
    const backlog = {
      jobs: views.reduce((n, v) => n + v.backlog, 0),
      writes: views.reduce((n, v) => n + v.writes, 0),
      bytes: views.reduce((n, v) => n + v.bytes, 0),
      oldestJobAgeMs: ages.length === 0 ? null : Math.max(...ages),
      limits: d.limits,
    };
    return c.json({ at: new Date().toISOString(), backlog, ...parts, replicas: d.replicas(), deadLetters, rates: d.rates() });
  });
}

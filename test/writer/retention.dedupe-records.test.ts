/**
 * Dedupe retention (issue 11, finding 3), against real Postgres and Redis:
 * rows past the window go in batches; an applied-job row is kept while an
 * older job is still in a partition's log (it could still be redelivered);
 * Idempotency-Key rows inside the window stay; the log reports its oldest job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { CLOCK_MARGIN_MS, DedupeRetention, type RetentionShard } from '../../writer/src/retention/dedupe-retention.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';

let env: TestEnv;
const log = createLogger('retention', 'silent');

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

async function seed(ageS: number, n: number, tag: string): Promise<void> {
  await env.pool.query(
    `INSERT INTO sluice.applied_jobs (job_id, requests, applied_at) SELECT $3 || g, 1, now() - make_interval(secs => $1) FROM generate_series(1, $2) g`,
    [ageS, n, `${tag}.`],
  );
  await env.pool.query(
    `INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id, created_at) SELECT 'w', $3 || g, 'h', $3 || g || '.0', now() - make_interval(secs => $1) FROM generate_series(1, $2) g`,
    [ageS, n, `${tag}.`],
  );
}

const count = async (table: string, tag: string) =>
  Number((await env.pool.query<{ n: string }>(`SELECT count(*) AS n FROM sluice.${table} WHERE ${table === 'applied_jobs' ? 'job_id' : 'key'} LIKE $1`, [`${tag}.%`])).rows[0]!.n);

describe('dedupe retention', () => {
  it('removes rows past the window in batches, keeps younger ones, and keeps applied jobs newer than the oldest queued job', async () => {
    await seed(10 * 86_400, 1200, 'old'); // far past the window and the queued job below
    await seed(3 * 3600, 300, 'mid'); // past the window, but newer than the oldest queued job (less the clock margin)
    await seed(10, 50, 'young'); // inside the window
    const batches: number[] = [];
    let oldestQueued: number | null = Date.now() - 4 * 3600_000 - CLOCK_MARGIN_MS;
    const shard: RetentionShard = { name: 'main', db: env.pool, oldestQueuedAt: async () => oldestQueued };
    const retention = new DedupeRetention({ windowS: 3600, intervalMs: 60_000, batchRows: 500 }, () => [shard], log, (table, n) => table === 'applied_jobs' && batches.push(n));

    const first = await retention.pass(shard);
    expect(first.appliedJobs).toBe(1200);
    expect(batches).toEqual([500, 500, 200]);
    expect(await count('applied_jobs', 'old')).toBe(0);
    expect(await count('applied_jobs', 'mid')).toBe(300); // a job 4 h old is still queued: rows 3 h old may be its own
    // Idempotency-Key rows follow the window only (a redelivered job is kept single by its applied-job row).
    expect(first.idempotencyKeys).toBe(1500);
    expect(await count('idempotency_keys', 'mid')).toBe(0);
    expect(await count('idempotency_keys', 'young')).toBe(50);

    oldestQueued = null; // the logs drained
    expect((await retention.pass(shard)).appliedJobs).toBe(300);
    expect(await count('applied_jobs', 'young')).toBe(50);
    await retention.stop();
  });

  it('the partition log reports when its oldest job was appended (null when empty)', async () => {
    const plog = new PartitionLog(partitionRef('ret', 1, 0), env.redis, env.prefix);
    try {
      expect(await plog.oldestAppendedAt()).toBeNull();
      const before = Date.now();
      await plog.append([{ id: 'r.1', data: { v: 1, reqs: [] } }]);
      const firstDone = Date.now();
      // The second job is appended strictly later than the first one's append returned (a loaded machine may take long over it).
      await new Promise((r) => setTimeout(r, 20));
      await plog.append([{ id: 'r.2', data: { v: 1, reqs: [] } }]);
      const oldest = await plog.oldestAppendedAt();
      expect(oldest).toBeGreaterThanOrEqual(before);
      expect(oldest).toBeLessThanOrEqual(firstDone);
    } finally {
      await plog.destroy();
      await plog.close();
    }
  });
});

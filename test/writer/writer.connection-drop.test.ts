/**
 * The writer's BullMQ connection drops (CLIENT KILL) while jobs flow. A job
 * fetch may have run in Redis without its reply reaching the writer; the
 * consumer therefore gives the partition up (commits its open batch, hands
 * every later job back) and a new consumer hands the orphans back first.
 * Checked: the partition is consumed again by itself, every job commits
 * once, and per-key order holds, under a lease and without one; without one,
 * a replacement that Redis refuses (out of memory) is tried again until it starts.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { startRedis } from '@sluice/local-servers/redis.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queueName } from '@sluice/shared/partition-log/names.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { part } from '../harness/partitions.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { nextJobId, payload, quiet, rows, ups } from './helpers.ts';

const SQL = `
CREATE TABLE seqs (k text PRIMARY KEY, v integer NOT NULL);
CREATE TABLE seqs_log (n bigserial PRIMARY KEY, k text NOT NULL, v integer NOT NULL);
CREATE FUNCTION seqs_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seqs_log (k, v) VALUES (NEW.k, NEW.v); RETURN NEW; END $$;
CREATE TRIGGER seqs_log AFTER INSERT OR UPDATE ON seqs FOR EACH ROW EXECUTE FUNCTION seqs_log();`;

const KEYS = 5;
const JOBS = 400;

let env: TestEnv;
let queue: Queue;
let writer: Writer | undefined;
/** The Redis the writer and `queue` use: the suite's, or a private one for a test that cripples it. */
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnv({ sql: SQL });
  redis = env.redis as Redis; // one Redis only: this file cripples that connection (not in the cluster run)
  queue = new Queue(queueName(part(0)), { prefix: env.prefix, connection: redis });
});
afterEach(async () => {
  await writer?.stop();
  writer = undefined;
});
afterAll(async () => {
  await queue?.close();
  await env?.cleanup();
});

/** Kill the connection of this test's writer's partition-0 worker (waiting for a restarted consumer to open one). */
async function killWorkerConnections(): Promise<number> {
  const ids = await eventually(async () => {
    const list = (await redis.client('LIST')) as string;
    const found = list
      .split('\n')
      .filter((line) => line.includes(` name=sluice-writer:${env.prefix}:main.1.0 `))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    expect(found.length).toBeGreaterThan(0);
    return found;
  }, 10_000);
  for (const id of ids) await redis.client('KILL', 'ID', id);
  return ids.length;
}

/**
 * What a lost fetch reply leaves behind, made on purpose: right after the
 * kill, while the writer reconnects, another client takes the job at the
 * queue head into `active` under a lock and never finishes it. Before the fix
 * the reconnected writer went on with the jobs behind it, and this one
 * committed after them once its lock lapsed.
 */
async function orphanTheHead(): Promise<string | undefined> {
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const thief = new Worker(queueName(part(0)), null, { connection, prefix: env.prefix, autorun: false, lockDuration: 2000 });
  try {
    return (await thief.getNextJob('lost-reply', { block: false }))?.id;
  } finally {
    await thief.close(true);
    await connection.quit();
  }
}

function bulkFrom(i: number) {
  return Array.from({ length: 10 }, (_, j) => {
    const n = i + j;
    const id = nextJobId(0);
    return { name: 'w', data: payload(id, [ups('seqs', { k: `k${n % KEYS}`, v: String(n) })]), opts: { jobId: id, removeOnComplete: true } };
  });
}

/**
 * Add JOBS jobs in small bulks, upserting KEYS keys with rising values. Twice
 * on the way, kill the worker's connection and orphan the queue head.
 */
async function loadWithDrops(): Promise<{ killed: number; orphaned: number }> {
  let killed = 0;
  let orphaned = 0;
  for (let i = 0; i < JOBS; i += 10) {
    if (i === 100 || i === 250) {
      // The second time, only once a new consumer commits (the first one stopped at the first kill).
      if (i === 250) await eventually(async () => expect((await rows<{ n: number }>(env, 'SELECT count(*)::int AS n FROM seqs_log'))[0]!.n).toBeGreaterThan(150), 20_000);
      killed += await killWorkerConnections();
      await queue.addBulk(bulkFrom(i));
      if (await orphanTheHead()) orphaned++;
    } else {
      await queue.addBulk(bulkFrom(i));
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { killed, orphaned };
}

async function expectAllCommittedInOrder(): Promise<void> {
  await eventually(async () => expect(await writer!.metrics.registry.getSingleMetricAsString('sluice_writer_consumer_interruptions_total')).toMatch(/^sluice_writer_consumer_interruptions_total\{partition="main\.1\.0"\} 2$/m));
  await eventually(async () => expect(await rows(env, 'SELECT count(*)::int AS n FROM seqs_log')).toEqual([{ n: JOBS }]), 40_000);
  const log = await rows<{ k: string; v: number }>(env, 'SELECT k, v FROM seqs_log ORDER BY n');
  const last = new Map<string, number>();
  const outOfOrder = log.filter((r) => {
    const bad = (last.get(r.k) ?? -1) > r.v;
    last.set(r.k, r.v);
    return bad;
  });
  expect(outOfOrder).toEqual([]);
  expect(new Set(log.map((r) => r.v)).size).toBe(JOBS); // each job applied once
  await eventually(async () => expect(await queue.getJobCounts('wait', 'active', 'failed')).toEqual({ wait: 0, active: 0, failed: 0 }), 20_000);
}

const config = (redisUrl = env.redisUrl) => testConfig({ ...env, redisUrl }, { SLUICE_TABLES: 'seqs', SLUICE_PARTITIONS: '1', SLUICE_BATCH_LINGER_MS: '5', SLUICE_LOCK_DURATION_MS: '2000', SLUICE_LEASE_TTL_MS: '1000', SLUICE_LEASE_RENEW_MS: '200' });

describe('writer whose worker connection drops', () => {
  it('under a lease: gives the partition up, takes it again, commits everything once and in order', async () => {
    await env.pool.query('TRUNCATE seqs, seqs_log');
    writer = await startWriter(config(), { log: quiet });
    expect(await loadWithDrops()).toEqual({ killed: 2, orphaned: 2 });
    await expectAllCommittedInOrder();
    await eventually(() => expect(writer!.partitions()).toEqual(['main.1.0']), 10_000);
  });

  it('without a lease (AllPartitions): restarts its consumer, commits everything once and in order', async () => {
    await env.pool.query('TRUNCATE seqs, seqs_log');
    writer = await startWriter(config(), { log: quiet, ownership: 'all' });
    expect(await loadWithDrops()).toEqual({ killed: 2, orphaned: 2 });
    await expectAllCommittedInOrder();
  });

  it('without a lease: a restart Redis refuses (out of memory) is tried again until it works', async () => {
    await env.pool.query('TRUNCATE seqs, seqs_log');
    // A private Redis: this test makes it refuse every write for a while.
    const own = await startRedis();
    const [suiteRedis, suiteQueue] = [redis, queue];
    redis = new Redis(own.url);
    queue = new Queue(queueName(part(0)), { prefix: env.prefix, connection: redis });
    try {
      writer = await startWriter(config(own.url), { log: quiet, ownership: 'all' });
      await queue.addBulk(bulkFrom(0));
      await eventually(async () => expect(await rows(env, 'SELECT count(*)::int AS n FROM seqs_log')).toEqual([{ n: 10 }]), 20_000);
      // The connection drops and a job is left active (see orphanTheHead); the replacement consumer must hand it back first.
      await killWorkerConnections();
      await queue.addBulk(bulkFrom(10));
      expect(await orphanTheHead()).toBeDefined();
      // Before the orphan's lock lapses (2 s), Redis starts refusing writes: handing it back fails.
      await redis.config('SET', 'maxmemory', '1');
      const failures = async () => (await writer!.metrics.registry.getSingleMetricAsString('sluice_writer_consumer_restart_failures_total'));
      await eventually(async () => expect(await failures()).toMatch(/\{partition="main\.1\.0"\} [2-9]/), 20_000);
      await redis.config('SET', 'maxmemory', '0');
      // Tried again, it works: everything commits once and in order.
      await eventually(async () => expect(await rows(env, 'SELECT count(*)::int AS n FROM seqs_log')).toEqual([{ n: 20 }]), 40_000);
      const log = await rows<{ k: string; v: number }>(env, 'SELECT k, v FROM seqs_log ORDER BY n');
      expect(log.map((r) => r.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await writer?.stop();
      writer = undefined;
      await queue.close();
      redis.disconnect();
      [redis, queue] = [suiteRedis, suiteQueue];
      await own.destroy();
    }
  });
});

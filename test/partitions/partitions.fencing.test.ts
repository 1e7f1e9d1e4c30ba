/**
 * Fencing: a writer whose lease was taken while its batch was open cannot
 * commit that batch. The test plays the new owner: while the writer sits in
 * its transaction (fail point after BEGIN), it takes the Redis lease with a
 * newer token and raises the token in Postgres, as a real takeover does. The
 * writer's flush then finds the newer token, rolls back, moves its jobs back
 * to the queue head (neither failed nor done) and gives the partition up.
 * When the thief leaves, and even when Redis "forgot" the token counter, the
 * writer takes the partition again with a newer token and applies each job once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import { formatLease, leaseKey, leaseTokenKey } from '@sluice/shared/queue/leases.ts';
import { claimFence } from '@sluice/shared/sql/partition-fences.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { logsOf, part } from '../harness/partitions.ts';
import { quiet } from '../writer/helpers.ts';
import { KV_SQL, KvProducer, leases } from './support.ts';

let env: TestEnv;
let producer: KvProducer;
let writer: Writer | undefined;
let queue: PartitionLog;
const P0 = part(0).name;
/** Waiting, active and failed jobs of the one partition. */
const states = async () => {
  const c = await queue.counts();
  return { wait: c.waiting, active: c.active, failed: c.failed };
};

beforeAll(async () => {
  env = await createTestEnv({ sql: KV_SQL });
  producer = new KvProducer(env, 1);
  queue = logsOf(env).get(part(0));
});
afterAll(async () => {
  await writer?.stop();
  await queue?.close();
  await producer?.close();
  await env?.cleanup();
});

const rows = async (sql: string) => (await env.pool.query(sql)).rows;

/** The writer's transaction held at the fail point (BEGIN run, nothing else yet). */
describe('fencing tokens', () => {
  it('a writer whose lease was stolen mid-batch rolls back and hands its jobs back; nothing is applied twice', async () => {
    const config = testConfig(env, {
      SLUICE_TABLES: 'kv',
      SLUICE_PARTITIONS: '1',
      SLUICE_LEASE_TTL_MS: '1000',
      SLUICE_LEASE_RENEW_MS: '200',
      // Held after its jobs are batched, before BEGIN + fence: the lease is stolen meanwhile.
      SLUICE_FAILPOINTS: 'before-begin=1500',
    });
    writer = await startWriter(config, { log: quiet });
    expect(writer.partitions()).toEqual([P0]);
    const before = (await leases(env, 1))[0]!;

    await producer.upsert('x', 1);
    // The writer holds the job, paused just before its transaction.
    await eventually(async () => expect((await states()).active).toBe(1));

    // The thief: a newer token in Redis and in Postgres, as a takeover would set them.
    const stolen = await env.redis.incr(leaseTokenKey(env.prefix, P0));
    await env.redis.set(leaseKey(env.prefix, P0), formatLease('thief', stolen), 'PX', 60_000);
    expect(await claimFence(env.pool, P0, stolen, 'thief')).toBeNull();

    // The writer gives the partition up; its job is back in the queue, not failed, not applied.
    await eventually(() => expect(writer!.partitions()).toEqual([]), 5000);
    await eventually(async () => expect(await states()).toEqual({ wait: 1, active: 0, failed: 0 }), 5000);
    expect(await rows('SELECT k, v FROM kv_history')).toEqual([]);
    const lost = await writer.metrics.registry.getSingleMetricAsString('sluice_writer_partitions_lost_total');
    expect(lost).toMatch(/ 1$/m);

    // The thief leaves, and Redis forgets the counter (a Redis without AOF that restarted).
    await env.redis.del(leaseKey(env.prefix, P0));
    await env.redis.set(leaseTokenKey(env.prefix, P0), '0');
    // The writer's first try gets token 1, finds Postgres at `stolen`, raises the counter and tries again.
    await eventually(() => expect(writer!.partitions()).toEqual([P0]), 5000);
    const after = (await leases(env, 1))[0]!;
    expect(after.token).toBeGreaterThan(stolen);
    expect(after.owner).toBe(before.owner);

    await eventually(async () => expect(await rows('SELECT k, v FROM kv_history')).toEqual([{ k: 'x', v: 1 }]), 10_000);
    await eventually(async () => expect(await states()).toEqual({ wait: 0, active: 0, failed: 0 }));
    expect(await rows('SELECT token::int AS token, owner FROM sluice.partition_fences')).toEqual([{ token: after.token, owner: after.owner }]);
  });
});

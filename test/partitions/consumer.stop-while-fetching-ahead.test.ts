/**
 * Regression (the mixed-versions fault test, 1 run in 5 beside `stress-ng`: a
 * key's later write queued ahead of its earlier one after the old writers
 * stopped). BullMQ's loop takes up to SLUICE_WRITER_CONCURRENCY jobs before it
 * hands the first to the processor. A consumer stopped in that window met the
 * payload it cannot read only while its log was closing, and moved each held
 * job back to the queue head as it came: one at a time, so the last one ended
 * at the head, the whole run reversed. Now held jobs are moved back together,
 * in take order, once the log has closed.
 *
 * Here every job has a payload version the consumer does not read (an old
 * writer meeting a canary's jobs), the consumer is stopped as soon as its
 * first takes show in Redis, and the queue must read as it was appended, with
 * nothing left taken and no take counted. After a dropped connection the held
 * jobs stay taken instead (a fetch may have run without its reply): the stop
 * must still finish, and the next owner's hand-back restore the order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { handBackOrphans } from '@sluice/shared/partition-log/orphans.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import { queueName } from '@sluice/shared/partition-log/names.ts';
import type { RedisClient, RedisRole } from '@sluice/shared/redis/connections.ts';
import { RedisFactory } from '@sluice/shared/redis/factory.ts';
import type { WriteJob } from '@sluice/shared/queue/contract.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { WriterMetrics } from '../../writer/src/metrics/metrics.ts';
import { PartitionConsumer } from '../../writer/src/partitions/partition-consumer.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

const silent = createLogger('stop-while-fetching', 'silent');
const v2Job = (i: number): { id: string; data: WriteJob } => ({ id: `j.${i}`, data: { v: 2, b: 'canary', reqs: [{ id: `j.${i}.0`, ops: [{ t: 't', op: 'insert', row: { n: String(i) } }] }] } });

describe('partition consumer: stopped while its log still fetches ahead', () => {
  it('moves every held job back in take order, untaken, whenever the stop came', { timeout: 60_000 }, async () => {
    const JOBS = 200;
    const ROUNDS = 5;
    for (let round = 0; round < ROUNDS; round++) {
      const ref = partitionRef(`ahead${round}`, 1, 0);
      const plog = new PartitionLog(ref, env.redis, env.prefix);
      const redis = new RedisFactory({ queueUrl: env.redisUrl, timeoutMs: 5000, log: silent });
      const flushed: number[] = [];
      const consumer = new PartitionConsumer(ref, {
        settings: { prefix: env.prefix, concurrency: 256, lockDurationMs: 10_000, maxRows: 1000, lingerMs: 5, payloadMaxVersion: 1 },
        redis,
        log: silent,
        metrics: new WriterMetrics(),
        flush: async (_p, jobs) => (flushed.push(jobs.length), jobs.length),
        retryDelay: () => null,
      });
      try {
        await plog.append(Array.from({ length: JOBS }, (_, i) => v2Job(i)));
        await consumer.start();
        // Stop a little later each round: while the loop is still taking jobs ahead, or once it has handed some over.
        const active = `${env.prefix}:${queueName(ref)}:active`;
        await eventually(async () => expect(await env.redis.llen(active)).toBeGreaterThanOrEqual(2 + round * 20), 10_000);
        await consumer.stop();

        expect(flushed, 'nothing applied: the consumer reads v1 only').toEqual([]);
        const wait = (await env.redis.lrange(`${env.prefix}:${queueName(ref)}:wait`, 0, -1)).reverse(); // head first
        expect(wait, `round ${round}: the queue, head first, as it was appended`).toEqual(Array.from({ length: JOBS }, (_, i) => `j.${i}`));
        expect(await env.redis.llen(active), 'nothing left taken').toBe(0);
        const takes = await Promise.all(wait.map((id) => env.redis.hget(`${env.prefix}:${queueName(ref)}:${id}`, 'ats')));
        expect(Math.max(...takes.map((a) => Number(a ?? 0))), 'no take counted').toBe(0);
      } finally {
        await consumer.stop().catch(() => {});
        await redis.close();
        await plog.close();
      }
    }
  });

  it('after a dropped connection, stops anyway and leaves its held jobs taken, in order, for the next owner', { timeout: 60_000 }, async () => {
    const JOBS = 50;
    const ref = partitionRef('dropped', 1, 0);
    const plog = new PartitionLog(ref, env.redis, env.prefix);
    /** Hands out its connections, so the test can drop the consumer's. */
    class Exposed extends RedisFactory {
      last: RedisClient | undefined;
      override connect(role: RedisRole, name: string): RedisClient {
        return (this.last = super.connect(role, name));
      }
    }
    const redis = new Exposed({ queueUrl: env.redisUrl, timeoutMs: 5000, log: silent });
    const metrics = new WriterMetrics();
    const consumer = new PartitionConsumer(ref, {
      settings: { prefix: env.prefix, concurrency: 256, lockDurationMs: 3000, maxRows: 1000, lingerMs: 5, payloadMaxVersion: 1 },
      redis,
      log: silent,
      metrics,
      flush: async (_p, jobs) => jobs.length,
      retryDelay: () => null,
    });
    const active = `${env.prefix}:${queueName(ref)}:active`;
    try {
      await plog.append(Array.from({ length: JOBS }, (_, i) => v2Job(i)));
      await consumer.start();
      // Every job taken and held (waiting for a newer writer), then the connection drops.
      await eventually(async () => expect(await env.redis.llen(active)).toBe(JOBS), 10_000);
      await eventually(async () => expect((await metrics.registry.getSingleMetric('sluice_writer_partitions_waiting_for_newer_writer')?.get())?.values.length).toBe(1), 10_000);
      redis.last!.disconnect(true);
      await eventually(async () => expect((await metrics.registry.getSingleMetric('sluice_writer_consumer_interruptions_total')?.get())?.values[0]?.value).toBe(1), 10_000);
      const stopped = await Promise.race([consumer.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still stopping after 20 s'), 20_000))]);
      expect(stopped).toBe('stopped');
      expect(await env.redis.llen(active), 'held jobs left taken').toBe(JOBS);

      await handBackOrphans({ connection: env.redis, prefix: env.prefix, partition: ref, lockDurationMs: 3000, maxStalledCount: 1000, log: silent });
      const wait = (await env.redis.lrange(`${env.prefix}:${queueName(ref)}:wait`, 0, -1)).reverse();
      expect(wait, 'the queue, head first, after the hand-back').toEqual(Array.from({ length: JOBS }, (_, i) => `j.${i}`));
    } finally {
      await consumer.stop().catch(() => {});
      await redis.close();
      await plog.close();
    }
  });
});

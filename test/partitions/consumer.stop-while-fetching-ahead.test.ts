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
 * nothing left taken and no take counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import { queueName } from '@sluice/shared/partition-log/names.ts';
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
});

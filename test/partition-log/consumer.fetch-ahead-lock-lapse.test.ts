/**
 * Regression (issue 11, finding 7): a writer starved of CPU let hundreds of
 * job locks lapse. BullMQ's worker takes up to `concurrency` jobs one round
 * trip after another before it hands the first to the processor, and only
 * then starts renewing its lock: a take sets a lock of lockDuration in
 * Redis, and when the whole fetch-ahead takes longer than that (slow round
 * trips: a starved event loop, a loaded Redis), the first jobs' locks lapse
 * while they still sit in the worker's own fetch queue, and the stalled
 * check hands them out again. Here each round trip is made slow by a
 * latency proxy; every job must be handed out once and none may stall.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { LogConsumer, type LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import type { WriteJob } from '@sluice/shared/queue/contract.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';
import { LatencyProxy } from '../harness/latency-proxy.ts';

let env: TestEnv;
let proxy: LatencyProxy;

beforeAll(async () => {
  env = await createTestEnv();
  const u = new URL(env.redisUrl);
  proxy = await LatencyProxy.start({ host: u.hostname, port: Number(u.port) }, 10);
});
afterAll(async () => {
  await proxy?.stop();
  await env?.cleanup();
});

const job = (i: number): { id: string; data: WriteJob } => ({ id: `j.${i}`, data: { v: 1, reqs: [{ id: `j.${i}.0`, ops: [{ t: 't', op: 'insert', row: { n: String(i) } }] }] } });

describe('partition log consumer: locks of jobs taken ahead', () => {
  it('renews the lock of every job from its take on, so a fetch-ahead slower than the lock loses none', { timeout: 60_000 }, async () => {
    const JOBS = 150; // ≥ 150 round trips of ≥ 20 ms: the fetch-ahead alone outlasts the 1 s lock
    const ref = partitionRef('lapse', 1, 0);
    const plog = new PartitionLog(ref, env.redis, env.prefix);
    await plog.append(Array.from({ length: JOBS }, (_, i) => job(i)));

    const connection = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: null });
    const seen: string[] = [];
    let held: (() => void)[] = [];
    // Hold every job until all were handed out (a batch that waits for its last job), then complete them together.
    const consumer = new LogConsumer(
      ref,
      { connection, prefix: env.prefix, concurrency: JOBS, lockDurationMs: 1000, maxStalledCount: 5, log: createLogger('lapse', 'silent') },
      (e: LogEntry) => new Promise<void>((resolve) => {
        seen.push(e.id);
        held.push(resolve);
        if (seen.length >= JOBS) for (const r of held.splice(0)) r();
      }),
    );
    try {
      await consumer.start();
      await eventually(async () => expect(await plog.counts()).toMatchObject({ waiting: 0, active: 0, backlog: 0 }), 45_000);
      expect(await plog.countEvents('stalled'), 'jobs stalled').toBe(0);
      expect(new Set(seen).size).toBe(JOBS);
      expect(seen).toHaveLength(JOBS);
    } finally {
      held = [];
      await consumer.close();
      connection.disconnect();
      await plog.close();
    }
  });
});

/**
 * Regression (seen under stress-ng: a key's later write committed before an
 * earlier one). A writer starved of CPU may run past its lease: the next owner
 * (another writer, or this one re-acquiring) raises the fence, hands every
 * taken job back to the head of the queue and consumes from there. If the old
 * consumer's fetch loop takes one more job after that hand-back, it can only
 * give it back later, to the head, behind newer jobs the new owner already
 * committed. So a consumer asks `mayTake` right before every take and stops
 * fetching once its lease may have lapsed; here the gate closes after five
 * takes and the other jobs must stay in the queue, in order, for the next owner.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { LogConsumer, type LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { handBackOrphans } from '@sluice/shared/partition-log/orphans.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import type { WriteJob } from '@sluice/shared/queue/contract.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

const job = (i: number): { id: string; data: WriteJob } => ({ id: `j.${i}`, data: { v: 1, reqs: [{ id: `j.${i}.0`, ops: [{ t: 't', op: 'insert', row: { n: String(i) } }] }] } });
const silent = createLogger('lease-lapse', 'silent');

describe('partition log consumer: a lease that may have lapsed takes nothing more', () => {
  it('stops taking at the gate; the next owner gets every job in order', { timeout: 60_000 }, async () => {
    const JOBS = 20;
    const ref = partitionRef('lapse', 1, 0);
    const plog = new PartitionLog(ref, env.redis, env.prefix);
    await plog.append(Array.from({ length: JOBS }, (_, i) => job(i)));

    // The old owner: holds what it takes (a starved batch that never commits); its lease "lapses" after 5 takes.
    let takes = 0;
    const oldConn = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const held: string[] = [];
    const old = new LogConsumer(
      ref,
      { connection: oldConn, prefix: env.prefix, concurrency: 50, lockDurationMs: 5000, maxStalledCount: 5, log: silent, mayTake: () => takes++ < 5 },
      (e: LogEntry) => new Promise<void>(() => void held.push(e.id)),
    );
    // The next owner: fenced hand-back of everything taken, then consume in order.
    const newConn = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const applied: string[] = [];
    const next = new LogConsumer(ref, { connection: newConn, prefix: env.prefix, concurrency: 50, lockDurationMs: 5000, maxStalledCount: 5, log: silent }, async (e: LogEntry) => void applied.push(e.id));
    try {
      await old.start();
      await eventually(() => expect(held).toHaveLength(5), 10_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(held, 'taken by the old owner').toEqual(['j.0', 'j.1', 'j.2', 'j.3', 'j.4']);
      expect(await plog.counts(), 'the rest left in the queue').toMatchObject({ waiting: JOBS - 5, active: 5 });

      await handBackOrphans({ connection: newConn, prefix: env.prefix, partition: ref, lockDurationMs: 5000, maxStalledCount: 5, fenced: true, log: silent });
      await next.start();
      await eventually(() => expect(applied).toHaveLength(JOBS), 15_000);
      expect(applied).toEqual(Array.from({ length: JOBS }, (_, i) => `j.${i}`));
    } finally {
      await next.close();
      void old.close();
      oldConn.disconnect();
      newConn.disconnect();
      await plog.close();
    }
  });
});

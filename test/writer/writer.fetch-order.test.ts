/**
 * The writer batches jobs in the order its BullMQ processor is called, so
 * that order must be the queue's. Plain BullMQ Workers also fetch the next
 * job inside the call that completes one, concurrently with their main loop,
 * and then call the processor in promise-settling order: in this test's
 * setting a plain Worker let a job overtake earlier ones in about one run in
 * four (in four of ten runs of writer.connection-drop.test.ts). The writer's
 * OrderedWorker fetches in its main loop only.
 */
import { Queue, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderedWorker } from '@sluice/writer';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

const JOBS = 3000;

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

describe('OrderedWorker', () => {
  it('calls its processor in queue order while jobs complete in batches, as the writer completes them', async () => {
    const name = 'fetch-order';
    const queue = new Queue(name, { prefix: env.prefix, connection: env.redis });
    const seen: number[] = [];
    // Complete jobs the way the batcher does: in groups, when 50 are open or after 2 ms.
    let open: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      const done = open;
      open = [];
      for (const resolve of done) resolve();
    };
    const connection = env.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new OrderedWorker(
      name,
      (job: Job) =>
        new Promise<void>((resolve) => {
          seen.push(job.data.n as number);
          open.push(resolve);
          if (open.length >= 50) flush();
          else timer ??= setTimeout(flush, 2);
        }),
      { connection, prefix: env.prefix, concurrency: 200, autorun: false },
    );
    void worker.run();
    try {
      for (let i = 0; i < JOBS; i += 100) {
        await queue.addBulk(Array.from({ length: 100 }, (_, j) => ({ name: 'n', data: { n: i + j }, opts: { removeOnComplete: true } })));
      }
      await eventually(() => expect(seen).toHaveLength(JOBS), 30_000);
      const overtaken = seen.filter((n, i) => i > 0 && n < seen[i - 1]!);
      expect(overtaken).toEqual([]);
    } finally {
      await worker.close();
      await queue.close();
      await connection.quit();
    }
  });
});

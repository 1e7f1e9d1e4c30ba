import { Queue } from 'bullmq';
import type { Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { queueName } from '@sluice/shared/partition-log/names.ts';
import { jobIdOf, writeIdOf } from '@sluice/shared/queue/ids.ts';
import { type WriteJob } from '@sluice/shared/queue/contract.ts';
import { partitionRef } from '@sluice/shared/topology/partitions.ts';
import { postgresCpuMicros } from '../lib/pgcpu.ts';

const PAYLOAD = JSON.stringify({ user: 'u_1234567', path: '/products/widgets/blue-widget-2000', ref: 'https://example.com/search?q=widgets&page=2' });

/**
 * Pre-fill the partition queues with `writes` single-row insert requests,
 * `perJob` requests per job, exactly as the gateway would encode them.
 */
export async function prefillBacklog(redisUrl: string, prefix: string, partitions: number, writes: number, perJob: number): Promise<void> {
  const queues = Array.from({ length: partitions }, (_, p) => new Queue<WriteJob>(queueName(partitionRef('main', 1, p)), { prefix, connection: { url: redisUrl } as never }));
  let seq = 0;
  let made = 0;
  while (made < writes) {
    const p = seq % partitions;
    const jobs = [];
    for (let j = 0; j < 50 && made < writes; j++) {
      const jobId = jobIdOf(partitionRef('main', 1, p).name, 'benchfill', seq++);
      const n = Math.min(perJob, writes - made);
      const reqs = Array.from({ length: n }, (_, i) => ({
        id: writeIdOf(jobId, i),
        ops: [{ t: 'bench_events', op: 'insert' as const, row: { kind: 'page_view', amount: String(made + i), payload: PAYLOAD } }],
      }));
      made += n;
      jobs.push({ name: 'w', data: { v: 1 as const, reqs }, opts: { jobId, removeOnComplete: true } });
    }
    await queues[p]!.addBulk(jobs);
  }
  await Promise.all(queues.map((q) => q.close()));
}

/** COPY the same rows in one stream: the fastest way into Postgres, the drain's yardstick. */
export async function copyRows(pool: Pool, pgPid: number, writes: number): Promise<{ ms: number; cpuUsPerRow: number }> {
  const client = await pool.connect();
  try {
    const cpu0 = postgresCpuMicros(pgPid);
    const t0 = performance.now();
    const payload = PAYLOAD.replace(/\\/g, '\\\\');
    async function* lines() {
      for (let i = 0; i < writes; i += 1000) {
        let chunk = '';
        for (let j = i; j < Math.min(writes, i + 1000); j++) chunk += `page_view\t${j}\t${payload}\n`;
        yield chunk;
      }
    }
    await pipeline(Readable.from(lines()), client.query(copyFrom('COPY bench_events (kind, amount, payload) FROM STDIN')));
    const ms = performance.now() - t0;
    return { ms, cpuUsPerRow: (postgresCpuMicros(pgPid) - cpu0) / writes };
  } finally {
    client.release();
  }
}

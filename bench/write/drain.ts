/**
 * The drain scenario: a backlog of single-row inserts queued as the gateway
 * encodes them, committed by the writer (with the gateway and warmer running,
 * as `pnpm start` runs them), against one COPY stream of the same rows.
 */
import { Queue } from 'bullmq';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cpuDelta, sampleCpu, type CpuSample, type Tracked } from '../lib/cpu.ts';
import { jobIdOf, queueName, partitionRef, writeIdOf, type WriteJob } from '../lib/shared.ts';
import { progress, settleRows } from './scenarios.ts';

const PAYLOAD = JSON.stringify({ user: 'u_1234567', path: '/products/widgets/blue-widget-2000', ref: 'https://example.com/search?q=widgets&page=2' });

/**
 * Pre-fill the partition queues with `writes` single-row insert requests,
 * `perJob` requests per job, exactly as the gateway would encode them.
 */
export async function prefillBacklog(redisUrl: string, prefix: string, partitions: number, writes: number, perJob: number): Promise<void> {
  const queues = Array.from({ length: partitions }, (_, p) => new Queue<WriteJob>(queueName(partitionRef('main', 1, p)), { prefix, connection: { url: redisUrl } as never }));
  let seq = 0;
  let made = 0;
  let lastPrint = performance.now();
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
    if (performance.now() - lastPrint >= 5000) {
      lastPrint = performance.now();
      process.stderr.write(`  [backlog] ${made}/${writes} writes queued\n`);
    }
  }
  await Promise.all(queues.map((q) => q.close()));
}

/** A drain or COPY: rows, time, CPU by process. */
export interface RowsRun {
  rows: number;
  ms: number;
  rowsPerSec: number;
  cpuUs: CpuSample;
  /** The window on the monotonic clock (µs), for `--cpu-prof` samples. */
  monoUs?: [number, number];
}

const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Measure the writer committing the backlog from the moment `startWriter`
 * resolves (it is ready) until `target` rows are in: rows it committed before
 * the first reading are left out of both the count and the time.
 */
export async function measureDrain(pool: pg.Pool, target: number, startWriter: () => Promise<Tracked[]>): Promise<RowsRun> {
  const tracked = await startWriter();
  const c0 = sampleCpu(tracked);
  const m0 = monoUs();
  const t0 = performance.now();
  const r0 = (await progress(pool)).rows;
  const rows = await settleRows(pool, 'drain', target);
  const ms = performance.now() - t0;
  return { rows: rows - r0, ms, rowsPerSec: ((rows - r0) / ms) * 1000, cpuUs: cpuDelta(c0, sampleCpu(tracked)), monoUs: [m0, monoUs()] };
}

/** COPY the same rows in one stream: the fastest way into Postgres, the drain's yardstick. */
export async function copyRows(pool: pg.Pool, pgPid: number, writes: number): Promise<RowsRun> {
  const client = await pool.connect();
  try {
    const tracked = [{ name: 'postgres', pid: pgPid }];
    const c0 = sampleCpu(tracked);
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
    return { rows: writes, ms, rowsPerSec: (writes / ms) * 1000, cpuUs: cpuDelta(c0, sampleCpu(tracked)) };
  } finally {
    client.release();
  }
}

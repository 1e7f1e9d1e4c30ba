/**
 * `pnpm bench log [--jobs N] [--batch N] [--rounds N]`: the partition log
 * alone (no HTTP, no Postgres), against a private Redis (AOF, everysec): a
 * LogConsumer takes N jobs and completes them in groups of `--batch` (as the
 * batcher's flushes do), two ways in turns:
 *   each  every processor resolves and BullMQ completes its job (moveToFinished per job)
 *   bulk  `LogConsumer.complete` finishes the group in one script first
 * and prints CPU µs per job of Redis (from /proc) and of this process (the
 * writer's side), medians over the rounds, with the ratio of each round's pair.
 */
import { Redis } from 'ioredis';
import { cpuDelta, sampleCpu } from '../lib/cpu.ts';
import { median, printTable, runId, writeResults, type Row } from '../lib/report.ts';
import { createLogger, partitionRef, startRedis } from '../lib/shared.ts';
import { LogConsumer, type LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';

/** Options of the log bench (see bench/run.ts for the flags). */
export interface LogBenchOptions {
  jobs: number;
  batch: number;
  rounds: number;
}

type Variant = 'each' | 'bulk';
const selfCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
let n = 0;

/** Append `jobs` jobs, consume them all one way; CPU of Redis and of this process. */
async function once(url: string, redisPid: number, v: Variant, o: LogBenchOptions): Promise<{ redis: number; self: number; jobsPerS: number }> {
  const ref = partitionRef('bench', 1, n++);
  const producer = new Redis(url, { maxRetriesPerRequest: null });
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const plog = new PartitionLog(ref, producer, 'benchlog');
  const payload = { v: 1 as const, reqs: [{ id: 'x', ops: [{ t: 'bench_events', op: 'insert' as const, row: { kind: 'page_view', amount: '42' } }] }] };
  for (let i = 0; i < o.jobs; i += 500) await plog.append(Array.from({ length: Math.min(500, o.jobs - i) }, (_, j) => ({ id: `${ref.name}.b.${i + j}`, data: payload })));
  let done = 0;
  let open: { e: LogEntry; resolve: () => void }[] = [];
  let finished!: () => void;
  const all = new Promise<void>((r) => (finished = r));
  const consumer: LogConsumer = new LogConsumer(ref, { connection, prefix: 'benchlog', concurrency: 256, lockDurationMs: 30_000, maxStalledCount: 1000, log: createLogger('bench', 'silent') }, (e) => new Promise<void>((resolve) => {
    open.push({ e, resolve });
    if (open.length >= o.batch || done + open.length >= o.jobs) {
      const group = open;
      open = [];
      void (async () => {
        if (v === 'bulk') await consumer.complete(group.map((g) => g.e));
        for (const g of group) g.resolve();
        done += group.length;
        if (done >= o.jobs) finished();
      })();
    }
  }));
  const tracked = [{ name: 'redis', pid: redisPid }];
  const c0 = sampleCpu(tracked);
  const s0 = selfCpuUs();
  const t0 = performance.now();
  await consumer.start();
  await all;
  // Let the last completions land.
  for (;;) {
    const c = await plog.counts();
    if (c.active === 0 && c.waiting === 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  const out = { redis: cpuDelta(c0, sampleCpu(tracked))['redis']! / o.jobs, self: (selfCpuUs() - s0) / o.jobs, jobsPerS: (o.jobs / ms) * 1000 };
  await consumer.close();
  await plog.close();
  connection.disconnect();
  producer.disconnect();
  return out;
}

/** Run the log bench: print the table, write bench/results/log-<time>.json. */
export async function runLogBench(o: LogBenchOptions): Promise<void> {
  const run = runId('log');
  const redis = await startRedis({ appendfsync: 'everysec' });
  try {
    const per: Record<Variant, { redis: number[]; self: number[]; rate: number[] }> = { each: { redis: [], self: [], rate: [] }, bulk: { redis: [], self: [], rate: [] } };
    const ratio = { redis: [] as number[], self: [] as number[] };
    await once(redis.url, redis.pid, 'each', { ...o, jobs: 500 }); // warm-up
    await once(redis.url, redis.pid, 'bulk', { ...o, jobs: 500 });
    for (let r = 0; r < o.rounds; r++) {
      const got: Partial<Record<Variant, { redis: number; self: number }>> = {};
      for (const v of (r % 2 === 0 ? ['each', 'bulk'] : ['bulk', 'each']) as Variant[]) {
        const m = await once(redis.url, redis.pid, v, o);
        per[v].redis.push(m.redis);
        per[v].self.push(m.self);
        per[v].rate.push(m.jobsPerS);
        got[v] = m;
      }
      ratio.redis.push(got.each!.redis / got.bulk!.redis);
      ratio.self.push(got.each!.self / got.bulk!.self);
    }
    const rows: Row[] = (['each', 'bulk'] as Variant[]).map((v) => ({ completion: v, 'jobs/s': median(per[v].rate), 'redis µs/job': median(per[v].redis), 'writer µs/job': median(per[v].self) }));
    rows.push({ completion: 'each ÷ bulk (per round)', 'jobs/s': null, 'redis µs/job': median(ratio.redis), 'writer µs/job': median(ratio.self) });
    printTable(`Partition log: take ${o.jobs} jobs, complete in groups of ${o.batch}; medians of ${o.rounds} rounds (take + complete, per job)`, rows);
    process.stdout.write(`\nresults: ${writeResults(run, { options: o, rows })}\n`);
  } finally {
    await redis.destroy().catch(() => {});
  }
}

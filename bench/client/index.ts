/**
 * `pnpm bench client [--writes N] [--callers N] [--ack queued|committed]`:
 * @sluice/client doing N single-row inserts (default 10,000) from `callers`
 * concurrent callers (an app server's request handlers, each awaiting its
 * write before the next), once with one request per write and once with
 * client-side batching, in the same run against the same gateway and writer.
 * Reports writes/s until every call resolved and until every row was in
 * Postgres, requests the gateway applied, latency per call, and the client's
 * own CPU per write. Benchmarks are not tests: a table on stdout, JSON in
 * bench/results/.
 */
import pg from 'pg';
import { SluiceClient, type Ack, type BatchingOptions } from '../../client/src/index.ts';
import { createLogger, createPool, freePort, migrate, startPostgres, startRedis } from '../lib/shared.ts';
import { startService, stopAll, type Running } from '../lib/services.ts';
import { printTable, writeResults, type Row } from '../lib/report.ts';
import { BENCH_TABLE_SQL, ROW_BODY } from '../write/scenarios.ts';

/** Options of the client bench. */
export interface ClientBenchOptions {
  writes: number;
  callers: number;
  ack: Ack;
}

interface ModeResult {
  mode: string;
  writes: number;
  requests: number;
  ackedPerSec: number;
  committedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  clientCpuUsPerWrite: number;
  failed: number;
}

const ROW = JSON.parse(ROW_BODY) as Record<string, unknown>;
const BATCHING: BatchingOptions = { maxRows: 500, lingerMs: 5, maxInFlight: 8 };

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function waitForRows(pool: pg.Pool, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM bench_events');
    if (Number(rows[0]!.n) >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0]!.n} of ${n} rows after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `writes` inserts from `callers` concurrent loops; resolves with per-call latencies (ms) and failures. */
async function drive(client: SluiceClient, writes: number, callers: number, ack: Ack): Promise<{ lat: number[]; failed: number }> {
  const lat: number[] = [];
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < writes) {
        next++;
        const t = performance.now();
        try {
          await client.insert('bench_events', ROW, { ack });
        } catch {
          failed++;
        }
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat: lat.sort((a, b) => a - b), failed };
}

async function runMode(mode: string, url: string, pool: pg.Pool, o: ClientBenchOptions, batching: BatchingOptions | undefined): Promise<ModeResult> {
  const client = new SluiceClient({ url, ...(batching ? { batching } : {}) });
  // Warm-up (JIT, sockets, prepared statements), drained before the measured run starts.
  const warm = await drive(client, Math.min(2000, o.writes), o.callers, o.ack);
  await waitForRows(pool, Math.min(2000, o.writes) - warm.failed, 60_000);
  await pool.query('TRUNCATE bench_events, sluice.applied_jobs');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { lat, failed } = await drive(client, o.writes, o.callers, o.ack);
  const ackedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await waitForRows(pool, o.writes - failed, 120_000);
  const committedMs = performance.now() - t0;
  const { rows } = await pool.query<{ n: string }>('SELECT coalesce(sum(requests), 0) AS n FROM sluice.applied_jobs');
  await client.close();
  return {
    mode,
    writes: o.writes,
    requests: Number(rows[0]!.n),
    ackedPerSec: o.writes / (ackedMs / 1000),
    committedPerSec: o.writes / (committedMs / 1000),
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    clientCpuUsPerWrite: (cpu.user + cpu.system) / o.writes,
    failed,
  };
}

/** Run the pair and report. */
export async function runClientBench(o: ClientBenchOptions): Promise<void> {
  const [pgServer, redis] = await Promise.all([startPostgres(), startRedis()]);
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  const procs: Running[] = [];
  try {
    await pool.query(BENCH_TABLE_SQL);
    const mpool = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(mpool);
    await mpool.end();
    const port = await freePort();
    const env = { DATABASE_URL: pgServer.url, REDIS_URL: redis.url, SLUICE_TABLES: 'bench_events', SLUICE_PORT: String(port), SLUICE_HOST: '127.0.0.1', SLUICE_LOG_LEVEL: 'warn', NODE_ENV: 'production' };
    procs.push(await startService('writer', { env }), await startService('gateway', { env }));
    const url = `http://127.0.0.1:${port}`;
    const results = [await runMode('one request per write', url, pool, o, undefined), await runMode('client batching', url, pool, o, BATCHING)];
    report(results, o);
  } finally {
    await stopAll(procs);
    await pool.end().catch(() => {});
    await Promise.allSettled([redis.destroy(), pgServer.destroy()]);
  }
}

function report(results: ModeResult[], o: ClientBenchOptions): void {
  const rows: Row[] = results.map((r) => ({
    mode: r.mode,
    writes: r.writes,
    requests: r.requests,
    'writes/s (answered)': Math.round(r.ackedPerSec),
    'writes/s (in Postgres)': Math.round(r.committedPerSec),
    'p50 ms': r.p50Ms,
    'p99 ms': r.p99Ms,
    'client µs/write': r.clientCpuUsPerWrite,
    failed: r.failed,
  }));
  printTable(`@sluice/client, ${o.writes} single-row inserts (${Buffer.byteLength(ROW_BODY)} B), ${o.callers} concurrent callers, Sluice-Ack ${o.ack}; batching ${JSON.stringify(BATCHING)}`, rows);
  const [one, batched] = results as [ModeResult, ModeResult];
  const ratios = { answered: batched.ackedPerSec / one.ackedPerSec, inPostgres: batched.committedPerSec / one.committedPerSec, clientCpu: one.clientCpuUsPerWrite / batched.clientCpuUsPerWrite };
  printTable('Batching / one request per write (target ≥ 5× writes/s)', [{ 'writes/s answered': ratios.answered, 'writes/s in Postgres': ratios.inPostgres, 'client CPU saved': ratios.clientCpu }]);
  const file = writeResults('client', { at: new Date().toISOString(), options: o, batching: BATCHING, results, ratios });
  process.stdout.write(`\nresults: ${file}\n`);
}

/**
 * `pnpm bench` (write): the same HTTP load against
 *   (a) a bare Hono POST that only parses JSON,
 *   (b) a naive Hono endpoint doing one INSERT per request,
 *   (c) Sluice with `Sluice-Ack: queued`, (d) Sluice with `Sluice-Ack: committed`,
 * then the writer's drain of a pre-filled backlog against COPY of the same rows.
 * Everything runs on this machine in one run, so ratios are comparable even
 * when absolute numbers are not.
 */
import pg from 'pg';
import { startPostgres } from '@sluice/local-servers/postgres.ts';
import { startRedis } from '@sluice/local-servers/redis.ts';
import { startTs, type Proc } from '../lib/procs.ts';
import { printTable, writeResults, type Row } from '../lib/report.ts';
import type { LoadSpec } from '../load/generator.ts';
import { copyRows, prefillBacklog } from './drain.ts';
import { BENCH_TABLE_SQL, ROW_BODY, measureHttp, stopAll, waitForRows, type ScenarioResult } from './scenarios.ts';

export interface WriteBenchOptions {
  durationS: number;
  connections: number;
  drainWrites: number;
  partitions: number;
  /** Override SLUICE_BATCH_LINGER_MS (default: the config default). */
  batchLingerMs?: number;
}

export async function runWriteBench(o: WriteBenchOptions): Promise<void> {
  // Private servers in their own temp dirs (removed by destroy()); settings as in production.
  const pgServer = await startPostgres();
  const redis = await startRedis();
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  const procs: Proc[] = [];
  const results: ScenarioResult[] = [];
  try {
    await pool.query(BENCH_TABLE_SQL);
    const pgPid = pgServer.pid;
    const sluiceEnv = {
      DATABASE_URL: pgServer.url,
      REDIS_URL: redis.url,
      SLUICE_TABLES: 'bench_events',
      SLUICE_PARTITIONS: String(o.partitions),
      ...(o.batchLingerMs !== undefined ? { SLUICE_BATCH_LINGER_MS: String(o.batchLingerMs) } : {}),
      SLUICE_LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    };
    const spec = (port: number, headers: Record<string, string> = {}): LoadSpec => ({
      url: `http://127.0.0.1:${port}/v1/tables/bench_events`,
      connections: o.connections,
      durationMs: o.durationS * 1000,
      body: ROW_BODY,
      headers,
    });
    const reset = () => pool.query('TRUNCATE bench_events');

    // (a) bare Hono
    procs.push(await startTs('bench/baselines/bare-hono.ts', { args: ['3101'], ready: /listening/, name: 'bare-hono' }));
    results.push(await measureHttp('a. bare Hono (parse only)', spec(3101), pool, pgPid));
    await stopAll(procs.splice(0));

    // (b) naive INSERT per request
    await reset();
    procs.push(await startTs('bench/baselines/naive-insert.ts', { args: ['3102', pgServer.url], ready: /listening/, name: 'naive' }));
    results.push(await measureHttp('b. naive INSERT/request', spec(3102), pool, pgPid));
    await stopAll(procs.splice(0));

    // (c, d) Sluice: one gateway, one writer, migrations first
    await reset();
    const [{ migrate }, { createPool }, { createLogger }] = await Promise.all([import('@sluice/shared/migrations/migrate.ts'), import('@sluice/shared/db/pool.ts'), import('@sluice/shared/log/index.ts')]);
    const mpool = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(mpool);
    await mpool.end();
    const env = { ...sluiceEnv, SLUICE_PORT: '3103' };
    procs.push(await startTs('writer/src/main.ts', { env, ready: /writer started/, name: 'writer' }));
    procs.push(await startTs('gateway/src/main.ts', { env, ready: /gateway listening/, name: 'gateway' }));
    let target = 0;
    const drainQueued = async () => {
      const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM bench_events');
      target = Math.max(target, Number(rows[0]!.n));
      return 0;
    };
    results.push(await measureHttp('c. Sluice queued', spec(3103, { 'sluice-ack': 'queued' }), pool, pgPid, drainQueued));
    results.push(await measureHttp('d. Sluice committed', spec(3103, { 'sluice-ack': 'committed' }), pool, pgPid));
    await stopAll(procs.splice(0));

    // (e) drain a pre-filled backlog vs COPY of the same rows
    await reset();
    await prefillBacklog(redis.url, 'sluice', o.partitions, o.drainWrites, 100);
    const { postgresCpuMicros } = await import('../lib/pgcpu.ts');
    const cpu0 = postgresCpuMicros(pgPid);
    procs.push(await startTs('writer/src/main.ts', { env, ready: /writer started/, name: 'writer' }));
    const drainMs = await waitForRows(pool, o.drainWrites, 300_000);
    const drainCpu = (postgresCpuMicros(pgPid) - cpu0) / o.drainWrites;
    await stopAll(procs.splice(0));
    await reset();
    const copy = await copyRows(pool, pgPid, o.drainWrites);

    report(results, { writes: o.drainWrites, drainMs, drainCpu, copyMs: copy.ms, copyCpu: copy.cpuUsPerRow }, o);
  } finally {
    await stopAll(procs);
    await pool.end().catch(() => {});
    await redis.destroy().catch(() => {});
    await pgServer.destroy().catch(() => {});
  }
}

interface DrainResult {
  writes: number;
  drainMs: number;
  drainCpu: number;
  copyMs: number;
  copyCpu: number;
}

function report(results: ScenarioResult[], drain: DrainResult, o: WriteBenchOptions): void {
  const rows: Row[] = results.map((r) => ({
    scenario: r.scenario,
    'req/s': Math.round(r.load.rps),
    'rows/s': Math.round(r.committedRowsPerSec),
    'p50 ms': r.load.latencyMs.p50,
    'p95 ms': r.load.latencyMs.p95,
    'p99 ms': r.load.latencyMs.p99,
    'pg µs/row': r.pgCpuUsPerRow,
    'rows/txn': r.rowsPerTxn,
    non2xx: Object.entries(r.load.status).filter(([s]) => !s.startsWith('2')).reduce((n, [, c]) => n + c, 0) + r.load.errors,
  }));
  printTable(`HTTP write path, ${o.connections} keep-alive connections, ${o.durationS} s, ${Buffer.byteLength(ROW_BODY)}-byte single-row JSON`, rows);
  const drainRate = drain.writes / (drain.drainMs / 1000);
  const copyRate = drain.writes / (drain.copyMs / 1000);
  printTable(`Backlog of ${drain.writes} writes`, [
    { path: 'Sluice writer drain', 'rows/s': Math.round(drainRate), 'pg µs/row': drain.drainCpu },
    { path: 'COPY (1 stream)', 'rows/s': Math.round(copyRate), 'pg µs/row': drain.copyCpu },
  ]);
  const by = (p: string) => results.find((r) => r.scenario.startsWith(p));
  const a = by('a.'), b = by('b.'), c = by('c.'), d = by('d.');
  const ratios = {
    queuedVsBareHono: c && a ? c.load.rps / a.load.rps : null,
    pgCpuPerRowNaiveOverQueued: b?.pgCpuUsPerRow && c?.pgCpuUsPerRow ? b.pgCpuUsPerRow / c.pgCpuUsPerRow : null,
    drainVsCopy: drainRate / copyRate,
    queuedP95Ms: c?.load.latencyMs.p95 ?? null,
    committedP95Ms: d?.load.latencyMs.p95 ?? null,
  };
  printTable('Ratios (targets: queued/bare ≥ 0.85, naive/Sluice pg CPU ≥ 12, drain/COPY ≥ 0.70, p95 ≤ 20 / 40 ms)', [
    Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v])) as Row,
  ]);
  const file = writeResults('write', { at: new Date().toISOString(), options: o, results, drain: { ...drain, drainRate, copyRate }, ratios });
  process.stdout.write(`\nresults: ${file}\n`);
}

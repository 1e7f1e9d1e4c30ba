/**
 * `pnpm bench rediscluster`: Sluice's write path on one Redis vs a local
 * Redis Cluster (3 masters + 3 replicas), in one run so the ratios compare:
 *   a. queued, one Redis;  b. queued, cluster;  c. queued, cluster, SLUICE_REDIS_WAIT_REPLICAS=1;
 *   d. committed, one Redis;  e. committed, cluster;
 *   f. cache hits over 1,000 pre-warmed keys, one Redis;  g. the same, cluster.
 * Redis CPU is summed over every node of the cluster (masters and replicas:
 * replication costs CPU too). All processes share this machine's cores.
 */
import { join } from 'node:path';
import pg from 'pg';
import { startRedisCluster, type LocalRedisCluster } from '@sluice/local-servers/redis-cluster.ts';
import type { Tracked } from '../lib/cpu.ts';
import { drive, warmUp } from '../lib/drive.ts';
import { summarizeProfiles, type ProfileSummary } from '../lib/profile.ts';
import { cpuPer, printProfiles, printTable, profileDir, runId, writeResults, type Row } from '../lib/report.ts';
import { startStack, stopAll, tracked, type Running } from '../lib/services.ts';
import { createLogger, createPool, freePort, migrate, startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../lib/shared.ts';
import { BENCH_TABLE_SQL, ROW_BODY, measureWrite, type WriteResult } from '../write/scenarios.ts';

/** Options of the Redis Cluster bench. */
export interface RedisClusterBenchOptions {
  durationS: number;
  connections: number;
  only: string[];
  /** Write `--cpu-prof` profiles of the gateway under the hit scenarios and print its hottest functions. */
  profile: boolean;
}

/** Rows the hit scenarios read: keys 1…HOT, each GET a hit once warmed (as `pnpm bench read` c1). */
const HOT = 1000;
const KV_SQL = `CREATE TABLE IF NOT EXISTS bench_kv (id int PRIMARY KEY, owner int NOT NULL, payload text NOT NULL);
  INSERT INTO bench_kv SELECT i, i % 100, repeat(md5(i::text), 3) FROM generate_series(1, ${HOT}) i ON CONFLICT DO NOTHING`;

interface Target {
  url: string;
  pids: number[];
}

/** Scenario c: every queue write waits for one Redis replica's acknowledgement. */
export const WAIT_ONE_ENV: Readonly<Record<string, string>> = { SLUICE_REDIS_WAIT_REPLICAS: '1' };

/** Run the bench: print the table, write bench/results/rediscluster-<time>.json. */
export async function runRedisClusterBench(o: RedisClusterBenchOptions): Promise<void> {
  const run = runId('rediscluster');
  const pgServer: LocalPostgres = await startPostgres();
  const single: LocalRedis = await startRedis({ appendfsync: 'everysec' });
  const cluster: LocalRedisCluster = await startRedisCluster({ appendfsync: 'everysec' });
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  const running: Running[] = [];
  try {
    await pool.query(BENCH_TABLE_SQL);
    await pool.query(KV_SQL);
    const mpool = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(mpool);
    await mpool.end();
    const one: Target = { url: single.url, pids: [single.pid] };
    const many: Target = { url: cluster.url, pids: cluster.nodes.map((n) => n.pid) };
    const want = (s: string) => o.only.length === 0 || o.only.includes(s);
    const results: (WriteResult & { redis: string })[] = [];
    const go = async (key: string, scenario: string, t: Target, ack: 'queued' | 'committed', extra: Record<string, string> = {}) => {
      await pool.query('TRUNCATE bench_events');
      const port = await freePort();
      // Each run on its own prefix: the previous run's keys do not count.
      const env = { DATABASE_URL: pgServer.url, REDIS_URL: t.url, SLUICE_TABLES: 'bench_events', SLUICE_PORT: String(port), SLUICE_QUEUE_PREFIX: `bench-${key}`, ...extra };
      running.push(...(await startStack({ env })));
      const servers: Tracked[] = [{ name: 'postgres', pid: pgServer.pid }, ...t.pids.map((pid) => ({ name: 'redis', pid }))];
      const spec = { name: '', ports: [port], method: 'POST' as const, path: '/v1/tables/bench_events', body: ROW_BODY, headers: { 'sluice-ack': ack }, connections: o.connections, durationMs: o.durationS * 1000 };
      const r = await measureWrite(key, scenario, spec, [...tracked(running), ...servers], pool);
      await stopAll(running);
      results.push({ ...r, redis: t === one ? 'one' : 'cluster 3+3' });
    };
    if (want('queued')) await go('queued-one', 'a. queued, one Redis', one, 'queued');
    if (want('queued')) await go('queued-cluster', 'b. queued, Redis Cluster', many, 'queued');
    if (want('wait')) await go('queued-cluster-wait1', 'c. queued, Redis Cluster, WAIT 1', many, 'queued', WAIT_ONE_ENV);
    if (want('committed')) await go('committed-one', 'd. committed, one Redis', one, 'committed');
    if (want('committed')) await go('committed-cluster', 'e. committed, Redis Cluster', many, 'committed');
    const hits: { scenario: string; req: number; p50: number; p99: number; cpu: Row }[] = [];
    const profiles: Record<string, Record<string, ProfileSummary | undefined>> = {};
    // Cache hits: gateway, writer and warmer running (as pnpm start runs them), the hot keys warmed first.
    const goHits = async (key: string, scenario: string, t: Target) => {
      const port = await freePort();
      const env = { DATABASE_URL: pgServer.url, REDIS_URL: t.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port), SLUICE_QUEUE_PREFIX: `bench-${key}` };
      const profile = o.profile ? { dir: join(profileDir(run), key), services: ['gateway'] as const } : undefined;
      running.push(...(await startStack({ env, ...(profile ? { profile } : {}) })));
      const spec = { name: scenario, ports: [port], method: 'GET' as const, path: '/v1/tables/bench_kv/{key}', keys: { mode: 'cycle' as const, n: HOT }, connections: o.connections, durationMs: o.durationS * 1000 };
      await warmUp(spec);
      process.stderr.write(`\n${scenario}\n`);
      const m = await drive(spec, [...tracked(running), { name: 'postgres', pid: pgServer.pid }, ...t.pids.map((pid) => ({ name: 'redis', pid }))]);
      await stopAll(running); // profiles are written as they exit
      if (profile) profiles[scenario] = summarizeProfiles(profile.dir, ['gateway'], m.monoUs);
      const served = m.load.status['200'] ?? 0;
      hits.push({ scenario, req: m.load.rps, p50: m.load.latencyMs.p50, p99: m.load.latencyMs.p99, cpu: cpuPer(m.cpuUs, served) });
    };
    if (want('hits')) await goHits('hits-one', `f. cache hits, ${HOT} keys, one Redis`, one);
    if (want('hits')) await goHits('hits-cluster', `g. cache hits, ${HOT} keys, Redis Cluster`, many);
    const rows: Row[] = results.map((r) => {
      const l = r.measured.load;
      const ok = (l.status['202'] ?? 0) + (l.status['201'] ?? 0);
      return { scenario: r.scenario, 'req/s': l.rps, 'ok %': l.requests ? (100 * ok) / l.requests : null, 'p50 ms': l.latencyMs.p50, 'p99 ms': l.latencyMs.p99, 'rows/s': r.rows / (r.measured.windowMs / 1000), 'redis µs/row': r.rows ? (r.measured.cpuUs.redis ?? 0) / r.rows : null };
    });
    printTable(`Sluice writes on one Redis vs a Redis Cluster (${o.connections} connections, ${o.durationS} s each)`, rows);
    printTable('CPU µs per committed row, by process', results.map((r) => ({ scenario: r.scenario, ...cpuPer(r.measured.cpuUs, r.rows) })));
    printTable(`Cache hits on one Redis vs a Redis Cluster (${o.connections} connections, ${o.durationS} s each; CPU µs per request)`, hits.map((h) => ({ scenario: h.scenario, 'req/s': h.req, 'p50 ms': h.p50, 'p99 ms': h.p99, ...h.cpu })));
    for (const [scenario, p] of Object.entries(profiles)) printProfiles(`Profile under ${scenario}`, p);
    const file = writeResults(run, { options: o, results, hits, profiles });
    process.stdout.write(`results: ${file}\n`);
  } finally {
    await stopAll(running);
    await pool.end().catch(() => {});
    await Promise.allSettled([cluster.destroy(), single.destroy(), pgServer.destroy()]);
  }
}

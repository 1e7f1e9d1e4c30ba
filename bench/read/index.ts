/**
 * `pnpm bench read`: the read path against two bare baselines, in one run on
 * this machine (ratios are what compare):
 *   a. bare Hono + one ioredis GET (1 and 2 processes)
 *   b. bare Hono + one Postgres primary-key lookup on the replica
 *   c. Sluice cache hits (1 and 2 gateway processes), and a cached 50-key multi-get
 *      against the bare endpoint doing one MGET
 *   d. Sluice misses served by the replica (a fresh key per request)
 *   e. Zipf(s = 1) over 100 k keys, soft TTL 30 s, without and with the warmer: hit rate
 *   f. stampede: 1,000 concurrent GETs of one cold key over 3 gateways: database reads
 */
import pg from 'pg';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
import { postgresCpuMicros, processCpuMicros } from '../lib/pgcpu.ts';
import { runTs, startTs, type Proc } from '../lib/procs.ts';
import { printTable, writeResults, type Row } from '../lib/report.ts';
import type { LoadResult } from '../load/generator.ts';
import { stopAll } from '../write/scenarios.ts';
import type { KeyPattern, ReadLoadSpec } from './load.ts';

export interface ReadBenchOptions {
  durationS: number;
  connections: number;
  /** Length of each Zipf run (the issue asks for 300 s). */
  zipfS: number;
  /** Run only these groups (baselines, sluice, zipf, stampede); empty = all. */
  only: string[];
}

const ROWS = 200_000;
const ZIPF_KEYS = 100_000;
const PATH = '/v1/tables/bench_kv/{key}';
/** A multi-get of keys 1…50 (all cached in the scenarios that use it). */
const MULTI_KEYS = 50;
const MULTI_PATH = `/v1/tables/bench_kv?key=in.(${Array.from({ length: MULTI_KEYS }, (_, i) => i + 1).join(',')})`;

interface Measured {
  scenario: string;
  load: LoadResult;
  /**
   * CPU per request (µs) of the HTTP server processes (and the warmer), of
   * Redis and of both Postgres servers over the run. Less noisy than req/s
   * on a shared machine, and what a second gateway on a spare core scales by.
   */
  cpuUs: { http: number; redis: number; pg: number };
}

async function load(ports: number[], keys: KeyPattern, o: ReadBenchOptions, durationMs = o.durationS * 1000, path = PATH): Promise<LoadResult> {
  const spec: ReadLoadSpec = { ports, path, keys, connections: o.connections, durationMs };
  return JSON.parse(await runTs('bench/read/load.ts', [JSON.stringify(spec)])) as LoadResult;
}

/** CPU used so far (µs) by the running Sluice or baseline processes, Redis and Postgres. */
function cpuNow(b: Bench): { http: number; redis: number; pg: number } {
  return {
    http: b.procs.reduce((n, p) => n + processCpuMicros(p.pid), 0),
    redis: processCpuMicros(b.pids.redis),
    pg: postgresCpuMicros(b.pids.primary) + postgresCpuMicros(b.pids.replica),
  };
}

/** Run load against `ports` as `scenario`, with the CPU every server spent per request. */
async function measure(b: Bench, scenario: string, ports: number[], keys: KeyPattern, durationMs = b.o.durationS * 1000, path = PATH): Promise<Measured> {
  const c0 = cpuNow(b);
  const r = await load(ports, keys, b.o, durationMs, path);
  const c1 = cpuNow(b);
  const per = (k: 'http' | 'redis' | 'pg') => (r.requests > 0 ? (c1[k] - c0[k]) / r.requests : NaN);
  const m: Measured = { scenario, load: r, cpuUs: { http: per('http'), redis: per('redis'), pg: per('pg') } };
  b.results.push(m);
  return m;
}

/** Sum of a metric's samples (optionally only those whose labels contain `match`) over gateways. */
async function metric(ports: number[], name: string, match = ''): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(match)) total += Number(line.split(' ').pop());
  }
  return total;
}

async function lookups(ports: number[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of ['hit', 'stale', 'miss', 'request', 'bypass', 'error']) out[r] = await metric(ports, 'sluice_cache_lookups_total', `result="${r}"`);
  return out;
}

async function flushCache(redisUrl: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(redisUrl);
  // Entries and leases only: the popularity set (`sluice:c:hot`) is what a warmer restarts from.
  for (const pattern of ['sluice:c:{*', 'sluice:cl:{*']) {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  }
  r.disconnect();
}

export async function runReadBench(o: ReadBenchOptions): Promise<void> {
  const primary = await startPostgres({ settings: { shared_buffers: '256MB' } });
  const pool = new pg.Pool({ connectionString: primary.url, max: 2 });
  const procs: Proc[] = [];
  const results: Measured[] = [];
  const extra: Record<string, unknown> = {};
  let replica: LocalPostgres | undefined;
  let redis: LocalRedis | undefined;
  try {
    await pool.query(`CREATE TABLE bench_kv (id int PRIMARY KEY, owner int NOT NULL, payload text NOT NULL);
      INSERT INTO bench_kv SELECT i, i % 1000, repeat(md5(i::text), 3) FROM generate_series(1, ${ROWS}) i;
      CREATE INDEX bench_kv_owner ON bench_kv (owner)`);
    await pool.query('VACUUM ANALYZE bench_kv');
    replica = await startReplica(primary, { settings: { shared_buffers: '256MB' } });
    redis = await startRedis();
    await measureAll(primary, replica, redis, o, procs, results, extra);
    report(results, extra, o);
  } finally {
    await stopAll(procs);
    await pool.end().catch(() => {});
    await Promise.allSettled([redis?.destroy(), replica?.destroy()]);
    await primary.destroy().catch(() => {});
  }
}

/** What every scenario shares. */
interface Bench {
  o: ReadBenchOptions;
  /** Postmaster and Redis pids, for CPU accounting. */
  pids: { redis: number; primary: number; replica: number };
  redisUrl: string;
  replicaUrl: string;
  procs: Proc[];
  results: Measured[];
  extra: Record<string, unknown>;
  /** Env of a Sluice process on `port`. */
  env(port: number, more?: Record<string, string>): Record<string, string>;
  /** Start a gateway (with the read path) on `port`. */
  gateway(port: number, more?: Record<string, string>): Promise<Proc>;
}

async function measureAll(primary: LocalPostgres, replica: LocalPostgres, redis: LocalRedis, o: ReadBenchOptions, procs: Proc[], results: Measured[], extra: Record<string, unknown>): Promise<void> {
  const [{ migrate }, { createPool }, { createLogger }] = await Promise.all([import('@sluice/shared/migrations/migrate.ts'), import('@sluice/shared/db/pool.ts'), import('@sluice/shared/log/index.ts')]);
  const mpool = createPool({ url: primary.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
  await migrate(mpool);
  await mpool.end();
  const env = (port: number, more: Record<string, string> = {}) => ({
    DATABASE_URL: primary.url, REDIS_URL: redis.url, SLUICE_REPLICA_URLS: replica.url, SLUICE_TABLES: 'bench_kv',
    SLUICE_LOG_LEVEL: 'warn', NODE_ENV: 'production', SLUICE_PORT: String(port), ...more,
  });
  const b: Bench = {
    o, pids: { redis: redis.pid, primary: primary.pid, replica: replica.pid }, redisUrl: redis.url, replicaUrl: replica.url, procs, results, extra, env,
    gateway: (port, more = {}) => startTs('gateway/src/main.ts', { env: env(port, more), ready: /gateway listening/, name: `gateway-${port}` }),
  };
  const run = (group: string) => o.only.length === 0 || o.only.includes(group);
  if (run('baselines')) await baselines(b);
  if (run('sluice')) await sluiceThroughput(b);
  if (run('zipf')) await zipfRuns(b);
  if (run('stampede')) await stampede(b);
}

/** a. bare Hono + ioredis GET (1 and 2 processes); b. bare Hono + pg key lookup on the replica. */
async function baselines(b: Bench): Promise<void> {
  const { Redis } = await import('ioredis');
  const seed = new Redis(b.redisUrl);
  for (let id = 1; id <= MULTI_KEYS; id++) await seed.set(`bench:bench_kv:${id}`, JSON.stringify({ id, owner: id, payload: 'x'.repeat(96) }));
  seed.disconnect();
  const fixed: KeyPattern = { mode: 'fixed', key: '1' };
  b.procs.push(await startTs('bench/baselines/bare-redis-get.ts', { args: ['3111', b.redisUrl], ready: /listening/, name: 'bare-redis-1' }));
  await load([3111], fixed, b.o, 2000);
  await measure(b, 'a1. bare Hono + Redis GET, 1 proc', [3111], fixed);
  b.procs.push(await startTs('bench/baselines/bare-redis-get.ts', { args: ['3113', b.redisUrl], ready: /listening/, name: 'bare-redis-2' }));
  await measure(b, 'a2. bare Hono + Redis GET, 2 procs', [3111, 3113], fixed);
  await stopAll(b.procs.splice(1));
  await measure(b, `a3. bare Hono + Redis MGET of ${MULTI_KEYS} keys`, [3111], fixed, b.o.durationS * 1000, MULTI_PATH);
  await stopAll(b.procs.splice(0));
  // Fresh keys, like the misses of scenario d.
  b.procs.push(await startTs('bench/baselines/bare-pg-get.ts', { args: ['3112', b.replicaUrl, '4'], ready: /listening/, name: 'bare-pg' }));
  await load([3112], { mode: 'seq', start: 150_000 }, b.o, 2000);
  await measure(b, 'b. bare Hono + pg PK lookup (replica)', [3112], { mode: 'seq', start: 1 });
  await stopAll(b.procs.splice(0));
}

/** c. cache hits with 1 and 2 gateways; d. misses (a fresh key per request) served by the replica. */
async function sluiceThroughput(b: Bench): Promise<void> {
  const fixed: KeyPattern = { mode: 'fixed', key: '1' };
  b.procs.push(await b.gateway(3121));
  await load([3121], fixed, b.o, 2000);
  await measure(b, 'c1. Sluice cache hits, 1 gateway', [3121], fixed);
  b.procs.push(await b.gateway(3122));
  await load([3122], fixed, b.o, 2000);
  await measure(b, 'c2. Sluice cache hits, 2 gateways', [3121, 3122], fixed);
  await stopAll(b.procs.splice(1));
  await load([3121], fixed, b.o, 2000, MULTI_PATH); // fills keys 1…50
  await measure(b, `c3. Sluice cached multi-get of ${MULTI_KEYS} keys`, [3121], fixed, b.o.durationS * 1000, MULTI_PATH);
  await load([3121], { mode: 'seq', start: 150_000 }, b.o, 2000);
  await flushCache(b.redisUrl);
  const before = await metric([3121], 'sluice_read_db_queries_total', 'source="replica"');
  await measure(b, 'd. Sluice misses via replica, 1 gateway', [3121], { mode: 'seq', start: 1 });
  b.extra.missReplicaQueries = (await metric([3121], 'sluice_read_db_queries_total', 'source="replica"')) - before;
  await stopAll(b.procs.splice(0));
}

/** e. Zipf(1) over 100 k keys, soft TTL 30 s, without and then with the warmer: hit rates from /metrics. */
async function zipfRuns(b: Bench): Promise<void> {
  const zipf: KeyPattern = { mode: 'zipf', n: ZIPF_KEYS, s: 1 };
  // Popularity sampled at the default 1 read in 4: the warmer then knows the ~85 k keys that get
  // 98 % of Zipf(1) reads (1 in 16 found only the ~55 k that get 95 %).
  const zipfEnv = { SLUICE_CACHE_SOFT_TTL_S: '30' };
  // The warmer keeps every key the gateways' sampled popularity knows (up to the whole key
  // space); it starts from the popularity the previous run recorded (a restart after a Redis flush).
  const warmerEnv = { ...zipfEnv, SLUICE_WARMER_TOP_KEYS: String(ZIPF_KEYS), SLUICE_WARMER_INTERVAL_MS: '2000' };
  for (const withWarmer of [false, true]) {
    await flushCache(b.redisUrl);
    b.procs.push(await b.gateway(3131, zipfEnv));
    if (withWarmer) b.procs.push(await startTs('writer/src/warmer/main.ts', { env: b.env(3199, warmerEnv), ready: /warmer started/, name: 'warmer', timeoutMs: 120_000 }));
    const before = await lookups([3131]);
    await measure(b, `e. Zipf(1) ${ZIPF_KEYS / 1000}k keys, ${b.o.zipfS} s, ${withWarmer ? 'with' : 'no'} warmer`, [3131], zipf, b.o.zipfS * 1000);
    const after = await lookups([3131]);
    const d = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
    const all = Object.values(d).reduce((x, y) => x + y, 0);
    b.extra[withWarmer ? 'zipfWithWarmer' : 'zipfNoWarmer'] = { lookups: d, freshHitRate: d.hit! / all, servedFromCacheRate: (d.hit! + d.stale!) / all };
    await stopAll(b.procs.splice(0));
  }
}

/** f. 1,000 concurrent GETs of one cold key over 3 gateways: database reads, summed from their /metrics. */
async function stampede(b: Bench): Promise<void> {
  const ports = [3141, 3142, 3143];
  for (const p of ports) b.procs.push(await b.gateway(p));
  await flushCache(b.redisUrl);
  const q0 = await metric(ports, 'sluice_read_db_queries_total');
  const status = JSON.parse(await runTs('bench/read/load.ts', [JSON.stringify({ ports, path: PATH.replace('{key}', '4242'), burst: 1000 })])) as Record<string, number>;
  b.extra.stampede = { requests: 1000, gateways: 3, status, databaseReads: (await metric(ports, 'sluice_read_db_queries_total')) - q0 };
  await stopAll(b.procs.splice(0));
}

function report(results: Measured[], extra: Record<string, unknown>, o: ReadBenchOptions): void {
  const rows: Row[] = results.map((r) => ({
    scenario: r.scenario,
    'req/s': Math.round(r.load.rps),
    'p50 ms': r.load.latencyMs.p50,
    'p95 ms': r.load.latencyMs.p95,
    'p99 ms': r.load.latencyMs.p99,
    non2xx: Object.entries(r.load.status).filter(([s]) => !s.startsWith('2')).reduce((n, [, c]) => n + c, 0) + r.load.errors,
    'http µs/req': Math.round(r.cpuUs.http),
    'redis µs/req': Math.round(r.cpuUs.redis),
    'pg µs/req': Math.round(r.cpuUs.pg),
  }));
  printTable(`HTTP read path, ${o.connections} keep-alive connections, ${o.durationS} s per throughput run`, rows);
  const rps = (p: string) => results.find((r) => r.scenario.startsWith(p))?.load.rps ?? NaN;
  // Server CPU per request (HTTP processes + Redis + Postgres).
  const cost = (p: string) => {
    const c = results.find((r) => r.scenario.startsWith(p))?.cpuUs;
    return c ? c.http + c.redis + c.pg : NaN;
  };
  // [measured, compared with]: req/s measured ÷ compared, CPU per request compared ÷ measured (higher is better either way).
  const pairs = {
    hitsVsBareRedis: ['c1.', 'a1.'],
    multiGetVsBareMget: ['c3.', 'a3.'],
    twoGatewaysVsOne: ['c2.', 'c1.'],
    bareRedisTwoVsOne: ['a2.', 'a1.'],
    missesVsBarePg: ['d.', 'b.'],
  } as const;
  const by = (f: (m: string, c: string) => number) => Object.fromEntries(Object.entries(pairs).map(([name, [m, c]]) => [name, f(m, c)]));
  const z = (k: string) => extra[k] as { freshHitRate: number; servedFromCacheRate: number } | undefined;
  const st = extra.stampede as { databaseReads: number } | undefined;
  const ratios = {
    ...by((m, c) => rps(m) / rps(c)),
    zipfHitNoWarmer: z('zipfNoWarmer')?.freshHitRate ?? null,
    zipfHitWithWarmer: z('zipfWithWarmer')?.freshHitRate ?? null,
    zipfCachedWithWarmer: z('zipfWithWarmer')?.servedFromCacheRate ?? null,
    stampedeDbReads: st?.databaseReads ?? null,
  };
  const costs = by((m, c) => cost(c) / cost(m));
  printTable('Ratios (targets: hits/bare ≥ 0.85, 2 gw/1 ≥ 1.6, misses/bare pg ≥ 0.80, Zipf hit with warmer ≥ 0.98, stampede reads = 1)', [ratios as Row]);
  printTable('The same by server CPU per request (baseline ÷ Sluice; 2 gw: one ÷ two — 1.0 means a second gateway on a spare core adds a full one)', [costs as Row]);
  const file = writeResults('read', { at: new Date().toISOString(), options: o, results, extra, ratios, cpuRatios: costs });
  process.stdout.write(`\nresults: ${file}\n`);
}

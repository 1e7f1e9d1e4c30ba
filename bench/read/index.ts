/**
 * `pnpm bench read`: the read path as a user runs it — Sluice as `pnpm start`
 * starts it (gateway, writer, warmer), private Postgres (fsync on) and Redis
 * (AOF everysec) — against bare baselines, in one run on this machine (ratios
 * are what compare):
 *   a. bare Hono + one ioredis GET over 1,000 hot keys (1 and 2 processes), and one MGET of 50
 *   b. bare Hono + one Postgres SELECT per request (the naive read path)
 *   c. Sluice cache hits over the same 1,000 keys, pre-warmed (1 and 2 gateways), a cached 50-key multi-get
 *   d. Sluice misses (a fresh key per request) served by Postgres
 *   e. Zipf(s = 1) over 100 k keys without and with the warmer: hit rate
 *   f. stampede: 1,000 concurrent GETs of one cold key over 3 gateways: database reads
 *   g. read models: a view read by key against its aggregate computed per request (views.ts)
 * CPU per request is read from /proc for every process.
 */
import pg from 'pg';
import type { Measured } from '../lib/drive.ts';
import type { ProfileSummary } from '../lib/profile.ts';
import { runId } from '../lib/report.ts';
import { stopAll, type Running } from '../lib/services.ts';
import { createLogger, createPool, migrate, startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../lib/shared.ts';
import { report } from './report.ts';
import { THROUGHPUT, seedBareKeys } from './scenarios.ts';
import { viewRuns } from './views.ts';
import { stampede, zipfRuns } from './zipf.ts';

/** Options of the read bench (see bench/run.ts for the flags). */
export interface ReadBenchOptions {
  durationS: number;
  connections: number;
  /** Length of each Zipf run. */
  zipfS: number;
  /** Run only these groups (baselines, sluice, zipf, stampede, views); empty = all. */
  only: string[];
  /** Write `--cpu-prof` profiles of the gateway and the writer, and print their hottest functions. */
  profile: boolean;
}

/** Rows in bench_kv: misses and the naive SELECT walk fresh keys from MISS_FROM, warm-ups from WARM_FROM. */
export const ROWS = 400_000;
export const MISS_FROM = 10_001;
export const WARM_FROM = 300_001;

/** One measured throughput run. */
export interface ReadResult {
  key: string;
  scenario: string;
  measured: Measured;
}

/** What every scenario shares. */
export interface ReadCtx {
  o: ReadBenchOptions;
  run: string;
  pg: LocalPostgres;
  redis: LocalRedis;
  running: Running[];
  results: ReadResult[];
  extra: Record<string, unknown>;
  profiles: Record<string, Record<string, ProfileSummary | undefined>>;
}

/** Run the read bench: print the tables, write bench/results/read-<time>.json. */
export async function runReadBench(o: ReadBenchOptions): Promise<void> {
  const primary = await startPostgres(); // fsync on, as in production
  const redis = await startRedis({ appendfsync: 'everysec' });
  const pool = new pg.Pool({ connectionString: primary.url, max: 2 });
  const ctx: ReadCtx = { o, run: runId('read'), pg: primary, redis, running: [], results: [], extra: {}, profiles: {} };
  try {
    process.stderr.write(`loading ${ROWS} rows\n`);
    await pool.query(`CREATE TABLE bench_kv (id int PRIMARY KEY, owner int NOT NULL, payload text NOT NULL);
      INSERT INTO bench_kv SELECT i, i % 1000, repeat(md5(i::text), 3) FROM generate_series(1, ${ROWS}) i;
      CREATE INDEX bench_kv_owner ON bench_kv (owner)`);
    await pool.query('VACUUM ANALYZE bench_kv');
    const mpool = createPool({ url: primary.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(mpool);
    await mpool.end();
    const want = (group: string) => o.only.length === 0 || o.only.includes(group);
    if (want('baselines')) await seedBareKeys(ctx);
    for (const s of THROUGHPUT) if (want(s.group)) await s.run(ctx);
    if (want('zipf')) await zipfRuns(ctx);
    if (want('stampede')) await stampede(ctx);
    if (want('views')) await viewRuns(ctx);
    report(ctx);
  } finally {
    await stopAll(ctx.running);
    await pool.end().catch(() => {});
    await redis.destroy().catch(() => {});
    await primary.destroy().catch(() => {});
  }
}

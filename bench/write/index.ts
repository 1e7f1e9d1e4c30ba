/**
 * `pnpm bench` (write): the setup a user runs — private Postgres (fsync on),
 * Redis (AOF, appendfsync everysec), and Sluice as `pnpm start` starts it —
 * under the same HTTP load as
 *   a. a bare Hono POST that only parses JSON,
 *   b. a naive Hono service doing one INSERT per request (pool),
 *   c. Sluice `Sluice-Ack: queued`, d. Sluice `Sluice-Ack: committed`,
 *   e. the writer draining a pre-filled backlog, against one COPY of the same rows.
 * With `--replica`, a streaming replica follows the primary in every scenario,
 * and c. and d. also run with confirmation (SLUICE_CONFIRM_REPLICAS=1: jobs
 * complete once the replica has flushed the commit) right after the same
 * scenario without it (SLUICE_CONFIRM_REPLICAS=0).
 * Everything runs on this machine in one run, so ratios are comparable even
 * when absolute numbers are not. CPU per request is read from /proc for every process.
 */
import pg from 'pg';
import { join } from 'node:path';
import type { Tracked } from '../lib/cpu.ts';
import { summarizeProfiles, type ProfileSummary } from '../lib/profile.ts';
import { profileDir, runId } from '../lib/report.ts';
import { startBaseline, startService, startStack, stopAll, tracked, type Running, type ServiceOptions } from '../lib/services.ts';
import { createLogger, createPool, freePort, loadConfig, migrate, partitionRef, queueName, startPostgres, startRedis, startReplica, type LocalPostgres, type LocalRedis } from '../lib/shared.ts';
import { RedisMemorySampler } from './redis-memory.ts';
import type { LoadSpec } from '../load/generator.ts';
import { copyRows, measureDrain, prefillBacklog, type RowsRun } from './drain.ts';
import { report } from './report.ts';
import { BENCH_TABLE_SQL, ROW_BODY, measureWrite, progress, type WriteResult } from './scenarios.ts';

/** Options of the write bench (see bench/run.ts for the flags). */
export interface WriteBenchOptions {
  durationS: number;
  connections: number;
  drainWrites: number;
  /** Override SLUICE_PARTITIONS (default: the config default). */
  partitions?: number;
  /** Override SLUICE_BATCH_LINGER_MS (default: the config default). */
  batchLingerMs?: number;
  /** Run only these scenarios (bare, naive, queued, committed, drain); empty = all. */
  only: string[];
  /** Start a streaming replica and measure queued/committed with and without confirmation on it. */
  replica: boolean;
  /** Write `--cpu-prof` profiles of the gateway and the writer, and print their hottest functions. */
  profile: boolean;
  /**
   * Run c. and d. once per SLUICE_GROUP_COMMIT setting, back to back (`on` is
   * the default: its results keep the plain keys the targets use); unset:
   * once, at the config default.
   */
  groupCommit?: ('on' | 'off')[] | undefined;
  /**
   * Run c. and d. once per SLUICE_ADAPTIVE_LINGER setting, back to back
   * (`on`, the default, keeps the plain keys; `off` runs are keyed `-linger-fixed`).
   */
  adaptiveLinger?: ('on' | 'off')[] | undefined;
  /**
   * With a number: c. runs twice more over that many old dedupe records
   * (issue #11 retention): once with retention idle (window far longer than
   * their age), once with it deleting them while the load runs.
   */
  retentionRows?: number | undefined;
}

/** What the scenarios share. */
interface Ctx {
  o: WriteBenchOptions;
  run: string;
  pg: LocalPostgres;
  replica: LocalPostgres | undefined;
  redis: LocalRedis;
  pool: pg.Pool;
  running: Running[];
  profiles: Record<string, Record<string, ProfileSummary | undefined>>;
}

const PROFILED = ['gateway', 'writer'] as const;

/** Run the write bench: print the tables, write bench/results/write-<time>.json. */
export async function runWriteBench(o: WriteBenchOptions): Promise<void> {
  const run = runId('write');
  const pgServer = await startPostgres(); // fsync on, as in production
  const redis = await startRedis({ appendfsync: 'everysec' });
  const replicaServer = o.replica ? await startReplica(pgServer) : undefined;
  const ctx: Ctx = { o, run, pg: pgServer, replica: replicaServer, redis, pool: new pg.Pool({ connectionString: pgServer.url, max: 2 }), running: [], profiles: {} };
  try {
    await ctx.pool.query(BENCH_TABLE_SQL);
    const mpool = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(mpool);
    await mpool.end();
    const want = (s: string) => o.only.length === 0 || o.only.includes(s);
    const results: WriteResult[] = [];
    // Each ratio's two halves run back to back (bare → queued → naive): the machine's load drifts.
    if (want('bare')) results.push(await baseline(ctx, 'bare', 'a. bare Hono POST (no work)', 'bench/baselines/bare-hono.ts', []));
    const gcs = o.groupCommit ?? [undefined];
    const lingers = o.adaptiveLinger ?? [undefined];
    if (want('queued')) for (const gc of gcs) for (const al of lingers) results.push(await sluice(ctx, 'queued', 'c. Sluice queued', false, gc, lingerVariant(al)));
    if (want('queued') && ctx.replica) results.push(await sluice(ctx, 'queued', 'c2. Sluice queued, confirmed on the replica', true));
    if (want('queued') && o.retentionRows !== undefined) for (const r of ['idle', 'deleting'] as const) results.push(await withOldRecords(ctx, o.retentionRows, r));
    if (want('naive')) results.push(await baseline(ctx, 'naive', 'b. naive service, INSERT per request', 'bench/baselines/naive-insert.ts', [pgServer.url]));
    if (want('committed')) for (const gc of gcs) for (const al of lingers) results.push(await sluice(ctx, 'committed', 'd. Sluice committed', false, gc, lingerVariant(al)));
    if (want('committed') && ctx.replica) results.push(await sluice(ctx, 'committed', 'd2. Sluice committed, confirmed on the replica', true));
    const drain = want('drain') ? await drainVsCopy(ctx) : undefined;
    report(run, o, results, drain, ctx.profiles);
  } finally {
    await stopAll(ctx.running);
    await ctx.pool.end().catch(() => {});
    await redis.destroy().catch(() => {});
    await replicaServer?.destroy().catch(() => {});
    await pgServer.destroy().catch(() => {});
  }
}

/** `--retention idle`: dedupe records kept ten years, so the retention pass finds nothing to delete during the run. */
export const RETENTION_IDLE_ENV: Readonly<Record<string, string>> = { SLUICE_DEDUPE_RETENTION_S: String(10 * 365 * 86_400) };

/** `--adaptive-linger`: the fixed half is a variant; the adaptive half (the default) keeps the plain key. */
export function lingerVariant(al: 'on' | 'off' | undefined): { key: string; label: string; env: Record<string, string> } | undefined {
  if (al === undefined) return undefined;
  if (al === 'on') return { key: '', label: 'adaptive linger', env: { SLUICE_ADAPTIVE_LINGER: 'true' } };
  return { key: 'linger-fixed', label: 'fixed linger', env: { SLUICE_ADAPTIVE_LINGER: 'false' } };
}

function spec(ctx: Ctx, port: number, headers: Record<string, string> = {}): LoadSpec {
  return { name: '', ports: [port], method: 'POST', path: '/v1/tables/bench_events', body: ROW_BODY, headers, connections: ctx.o.connections, durationMs: ctx.o.durationS * 1000 };
}

function servers(ctx: Ctx): Tracked[] {
  return [{ name: 'postgres', pid: ctx.pg.pid }, { name: 'redis', pid: ctx.redis.pid }];
}

/** The environment `pnpm start` would get: where Postgres and Redis are, which table; everything else at its default. */
function services(ctx: Ctx, key: string, port: number, confirm = false, groupCommit?: 'on' | 'off', extra: Record<string, string> = {}): ServiceOptions {
  const env: Record<string, string> = { DATABASE_URL: ctx.pg.url, REDIS_URL: ctx.redis.url, SLUICE_TABLES: 'bench_events', SLUICE_PORT: String(port) };
  // With a replica: reads may use it either way; only the confirmation differs between the halves of a pair.
  if (ctx.replica) Object.assign(env, { SLUICE_REPLICA_URLS: ctx.replica.url, SLUICE_CONFIRM_REPLICAS: confirm ? '1' : '0' });
  if (ctx.o.partitions !== undefined) env.SLUICE_PARTITIONS = String(ctx.o.partitions);
  if (ctx.o.batchLingerMs !== undefined) env.SLUICE_BATCH_LINGER_MS = String(ctx.o.batchLingerMs);
  if (groupCommit !== undefined) env.SLUICE_GROUP_COMMIT = groupCommit === 'on' ? 'true' : 'false';
  Object.assign(env, extra);
  return { env, ...(ctx.o.profile ? { profile: { dir: join(profileDir(ctx.run), key), services: PROFILED } } : {}) };
}

async function baseline(ctx: Ctx, key: string, scenario: string, file: string, args: string[]): Promise<WriteResult> {
  await ctx.pool.query('TRUNCATE bench_events');
  const port = await freePort();
  // The bare baseline is profiled too: the gateway's profile is read against it.
  const dir = ctx.o.profile && key === 'bare' ? join(profileDir(ctx.run), key) : undefined;
  ctx.running.push(await startBaseline(file, [String(port), ...args], key, dir && join(dir, 'server')));
  const usesPg = key === 'naive';
  const r = await measureWrite(key, scenario, spec(ctx, port), [...tracked(ctx.running), ...(usesPg ? servers(ctx).slice(0, 1) : [])], usesPg ? ctx.pool : undefined);
  await stopAll(ctx.running);
  if (dir) ctx.profiles[key] = summarizeProfiles(dir, ['server'], r.measured.monoUs);
  return r;
}

async function sluice(ctx: Ctx, ack: 'queued' | 'committed', scenario: string, confirm = false, groupCommit?: 'on' | 'off', variant?: { key: string; label: string; env: Record<string, string> }): Promise<WriteResult> {
  await ctx.pool.query('TRUNCATE bench_events');
  const port = await freePort();
  const key = `${ack}${confirm ? '-confirm' : ''}${groupCommit === 'off' ? '-gc-off' : ''}${variant?.key ? `-${variant.key}` : ''}`;
  const label = `${scenario}${groupCommit === undefined ? '' : `, group commit ${groupCommit}`}${variant ? `, ${variant.label}` : ''}`;
  const so = services(ctx, key, port, confirm, groupCommit, variant?.env);
  ctx.running.push(...(await startStack(so)));
  // With a replica, what Redis holds is part of the pair's comparison (redis-memory.ts).
  const cfg = loadConfig(so.env);
  const active = Array.from({ length: cfg.SLUICE_PARTITIONS }, (_, p) => `${cfg.SLUICE_QUEUE_PREFIX}:${queueName(partitionRef('main', 1, p))}:active`);
  const sampler = ctx.replica ? new RedisMemorySampler(ctx.redis.url, active) : undefined;
  const r = await measureWrite(key, label, spec(ctx, port, { 'sluice-ack': ack }), [...tracked(ctx.running), ...servers(ctx)], ctx.pool, sampler);
  await stopAll(ctx.running); // they write their profiles as they exit
  if (so.profile) ctx.profiles[key] = summarizeProfiles(so.profile.dir, PROFILED, r.measured.monoUs);
  return r;
}

/**
 * c. over `rows` dedupe records 30 days old (sluice.applied_jobs, as a busy
 * shard holds them): `idle` keeps them (a window of ten years), `deleting`
 * has the writer's retention remove them (default window and batches) from
 * its start, through the warm-up and the measured load. The same records are
 * laid down before each half, so both run over a table of the same size.
 */
async function withOldRecords(ctx: Ctx, rows: number, retention: 'idle' | 'deleting'): Promise<WriteResult> {
  process.stderr.write(`\nc. with ${rows} old dedupe records, retention ${retention}: laying them down\n`);
  await ctx.pool.query('TRUNCATE sluice.applied_jobs');
  await ctx.pool.query(`INSERT INTO sluice.applied_jobs (job_id, requests, applied_at) SELECT 'old.' || g, 20, now() - interval '30 days' + g * interval '1 ms' FROM generate_series(1, $1::int) g`, [rows]);
  await ctx.pool.query('VACUUM ANALYZE sluice.applied_jobs');
  const old = async () => Number((await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM sluice.applied_jobs WHERE job_id LIKE 'old.%'`)).rows[0]!.n);
  const env: Record<string, string> = retention === 'idle' ? { ...RETENTION_IDLE_ENV } : {};
  const r = await sluice(ctx, 'queued', 'c. Sluice queued', false, undefined, { key: `retention-${retention}`, label: `${rows} old dedupe records, retention ${retention}`, env });
  const left = await old();
  process.stderr.write(`  old dedupe records left after the run: ${left} of ${rows}${retention === 'deleting' && left === 0 ? ' (all deleted before the run ended: part of the window ran without deletes)' : ''}\n`);
  return { ...r, oldRecords: { laid: rows, left } };
}

async function drainVsCopy(ctx: Ctx): Promise<{ drain: RowsRun; copy: RowsRun }> {
  await ctx.pool.query('TRUNCATE bench_events');
  process.stderr.write(`\ne. drain: queueing a backlog of ${ctx.o.drainWrites} writes\n`);
  const so = services(ctx, 'drain', await freePort());
  // Queued where the writer will look: its partitions and prefix, as its config resolves them.
  const cfg = loadConfig(so.env);
  await prefillBacklog(ctx.redis.url, cfg.SLUICE_QUEUE_PREFIX, cfg.SLUICE_PARTITIONS, ctx.o.drainWrites, 100);
  const target = (await progress(ctx.pool)).rows + ctx.o.drainWrites;
  // Gateway and warmer first, so the window opens when the writer is ready and covers all three.
  ctx.running.push(...(await startStack(so, ['gateway', 'warmer'])));
  const drain = await measureDrain(ctx.pool, target, async () => {
    ctx.running.push(await startService('writer', so));
    return [...tracked(ctx.running), ...servers(ctx)];
  });
  await stopAll(ctx.running);
  if (so.profile) ctx.profiles.drain = summarizeProfiles(so.profile.dir, PROFILED, drain.monoUs);
  await ctx.pool.query('TRUNCATE bench_events');
  process.stderr.write(`e. COPY of the same ${ctx.o.drainWrites} rows\n`);
  const copy = await copyRows(ctx.pool, ctx.pg.pid, ctx.o.drainWrites);
  return { drain, copy };
}

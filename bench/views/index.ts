/**
 * `pnpm bench views [--rows N] [--users N] [--partitions N] [--hot-batches N] [--rounds N] [--statements]`: what a read model costs the write
 * path. The same batches (1,000 rows each, the writer's flush, in process,
 * against a private Postgres) are committed with 0, 1 and 3 views, and with
 * one equivalent summary kept by a per-row trigger (what pg_ivm does: work in
 * the writing transaction for every row). Reported: Postgres CPU per
 * committed row (the postmaster and every backend, /proc), the writer's own
 * CPU per row, rows/s, and the ratio to 0 views, for an insert-only load and
 * a mixed one (70 % inserts, 20 % updates that move rows between groups,
 * 10 % deletes). Same run, same machine, one after the other; with
 * pg_stat_statements, buffer accesses and WAL records per row too (counters.ts:
 * the same whatever the machine's load). Then 100
 * writers hammering one group (hot.ts): rows/s and the lock wait.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '@sluice/shared/config/schema.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import type { BatchJob } from '@sluice/writer/flush/types.ts';
import { ensureView, verifyView } from '@sluice/writer/views/build.ts';
import { loadViews } from '@sluice/writer/views/load.ts';
import { ViewMaintainer } from '@sluice/writer/views/maintainer.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import { cpuByRole, sampleCpu } from '../lib/cpu.ts';
import { countersPerRow, resetCounters, startCountingPostgres, statementTimes, type StatementTime } from './counters.ts';
import { runHotGroup } from './hot.ts';
import { median, printTable, runId, writeResults, type Row } from '../lib/report.ts';
import { createLogger, createPool, introspectCatalog, migrate } from '../lib/shared.ts';

export interface ViewsBenchOptions {
  rows: number;
  users: number;
  /** Hot-group part: concurrent partitions (flush loops) and batches of 100 rows per partition. */
  partitions: number;
  hotBatches: number;
  /** Passes over each load, every variant once per pass; ratios are medians of per-pass ratios. */
  rounds: number;
  /** `--statements`: also print each variant's dearest statements in the last round (pg_stat_statements). */
  statements: boolean;
}

const TABLE = `DROP TABLE IF EXISTS bench_events CASCADE;
DROP SCHEMA IF EXISTS sluice_views CASCADE; CREATE SCHEMA sluice_views; DELETE FROM sluice.views;
DROP TABLE IF EXISTS trig_user_stats; DROP FUNCTION IF EXISTS trig_user_stats_f() CASCADE;
CREATE TABLE bench_events (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount numeric,
  created_at timestamptz NOT NULL DEFAULT now(),
  payload text
);
CREATE INDEX ON bench_events (user_id);`;

const VIEWS: Record<string, string> = {
  user_stats: 'select user_id, count(*) as events, sum(amount) as total, max(created_at) as last_at from bench_events group by user_id',
  kind_stats: 'select kind, count(*) as n, avg(amount) as mean from bench_events group by kind',
  user_kinds: 'select user_id, kind, count(*) as n, min(amount) as lo from bench_events group by user_id, kind',
};

/** user_stats kept by a per-row trigger (insert, update, delete), as pg_ivm would. */
const TRIGGER = `
CREATE TABLE trig_user_stats (user_id int PRIMARY KEY, events bigint NOT NULL, total numeric, last_at timestamptz);
CREATE FUNCTION trig_user_stats_f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE trig_user_stats SET events = events - 1, total = total - coalesce(OLD.amount, 0) WHERE user_id = OLD.user_id;
    -- max() under a delete: recompute the group, as an incremental view must.
    UPDATE trig_user_stats SET last_at = (SELECT max(created_at) FROM bench_events WHERE user_id = OLD.user_id) WHERE user_id = OLD.user_id AND last_at <= OLD.created_at;
    DELETE FROM trig_user_stats WHERE user_id = OLD.user_id AND events = 0;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    INSERT INTO trig_user_stats AS s VALUES (NEW.user_id, 1, NEW.amount, NEW.created_at)
    ON CONFLICT (user_id) DO UPDATE SET events = s.events + 1, total = coalesce(s.total, 0) + coalesce(EXCLUDED.total, 0), last_at = greatest(s.last_at, EXCLUDED.last_at);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER trig_user_stats AFTER INSERT OR UPDATE OR DELETE ON bench_events FOR EACH ROW EXECUTE FUNCTION trig_user_stats_f();`;

type Load = 'insert' | 'mixed';

/** The writer's default (SLUICE_COPY_MIN_ROWS): a batch's 1,000 plain inserts go in by COPY, as they would in Sluice. */
const COPY_MIN_ROWS: number = configSchema.shape.SLUICE_COPY_MIN_ROWS.parse(undefined);

interface Variant {
  name: string;
  views: string[];
  trigger: boolean;
}

/** One variant's pass over a load. */
interface VariantRun {
  committed: number;
  rowsPerSec: number;
  pgPerRow: number;
  writerPerRow: number;
  work: { buffers: number; wal: number } | null;
  statements: StatementTime[] | null;
  /** Postgres CPU µs per row by process role (--statements). */
  roles: Record<string, number> | null;
  exact: string;
}


/** Deterministic batches: 1,000 single-op requests each. */
function batches(load: Load, rows: number, users: number): BatchJob[] {
  let seed = 42;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const out: BatchJob[] = [];
  let nextId = 1;
  const payload = 'x'.repeat(120);
  for (let b = 0; b * 1000 < rows; b++) {
    const reqs = Array.from({ length: 1000 }, (_, i) => {
      const x = load === 'insert' ? 0 : rnd();
      let op: WriteOp;
      if (x < 0.7 || nextId < 2000) op = { t: 'bench_events', op: 'insert', row: { id: String(nextId++), user_id: String(Math.floor(rnd() * users)), kind: ['view', 'click', 'buy'][Math.floor(rnd() * 3)]!, amount: String(Math.floor(rnd() * 1000)), payload } };
      else if (x < 0.9) op = { t: 'bench_events', op: 'update', key: [String(1 + Math.floor(rnd() * (nextId - 1)))], row: { user_id: String(Math.floor(rnd() * users)), amount: String(Math.floor(rnd() * 1000)) } };
      else op = { t: 'bench_events', op: 'delete', key: [String(1 + Math.floor(rnd() * (nextId - 1)))] };
      return { id: `b${b}.${i}`, ops: [op] };
    });
    out.push({ id: `bench.${load}.${b}`, data: { v: 1, reqs }, rows: 1000, attempts: 1 });
  }
  return out;
}

export async function runViewsBench(o: ViewsBenchOptions): Promise<void> {
  const log = createLogger('bench-views', 'warn');
  const { server: pgServer, counting } = await startCountingPostgres(log);
  const pool = createPool({ url: pgServer.url, max: o.partitions + 2, connectTimeoutMs: 10_000, statementTimeoutMs: 120_000, applicationName: 'bench-views', log });
  const sampler = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 10_000, statementTimeoutMs: 120_000, applicationName: 'bench-views-sampler', log });
  const results: Row[] = [];
  try {
    await migrate(pool);
    const variants: Variant[] = [
      { name: '0 views', views: [], trigger: false },
      { name: '1 view (Sluice)', views: ['user_stats'], trigger: false },
      { name: '3 views (Sluice)', views: ['user_stats', 'kind_stats', 'user_kinds'], trigger: false },
      { name: '1 view (per-row trigger)', views: [], trigger: true },
    ];
    const runVariant = async (v: Variant, jobs: BatchJob[]): Promise<VariantRun> => {
      await pool.query(TABLE);
      if (v.trigger) await pool.query(TRIGGER);
      const catalog = await introspectCatalog(pool, ['bench_events']);
      const dir = mkdtempSync(join(tmpdir(), 'bench-views-'));
      for (const n of v.views) writeFileSync(join(dir, `${n}.sql`), VIEWS[n]!);
      const views = await loadViews(dir, catalog, pool);
      for (const m of views) await ensureView(pool, m, log);
      const maintainer = new ViewMaintainer(views);
      const ctx: FlushContext = { pool, catalog, cache: new StatementCache({ copyMinRows: COPY_MIN_ROWS }), failpoints: new FailPoints([]), log, inTransaction: views.length ? [maintainer.inTransaction] : [], beforeStatements: views.length ? [maintainer.before] : [] };
      await pool.query('CHECKPOINT');
      if (counting) await resetCounters(pool);
      const tracked = [{ name: 'postgres', pid: pgServer.pid }];
      const cpu0 = sampleCpu(tracked);
      const roles0 = o.statements ? cpuByRole(pgServer.pid) : null;
      const own0 = process.cpuUsage();
      const t0 = performance.now();
      let committed = 0;
      for (const j of jobs) committed += (await flushBatch(ctx, [{ ...j, id: `${j.id}.${v.name}.${++runSeq}` }])).stats.requests;
      const ms = performance.now() - t0;
      const own = process.cpuUsage(own0);
      const pgUs = sampleCpu(tracked).postgres! - cpu0.postgres!;
      const work = counting ? await countersPerRow(pool, committed) : null;
      const statements = counting && o.statements ? await statementTimes(pool, committed) : null;
      const roles1 = roles0 ? cpuByRole(pgServer.pid) : null;
      const roles = roles0 && roles1 ? Object.fromEntries(Object.entries(roles1).map(([k, x]) => [k, Number(((x - (roles0[k] ?? 0)) / committed).toFixed(2))])) : null;
      let exact = '';
      for (const m of views) exact += (await verifyView(pool, m)).length === 0 ? '' : `${m.bound.name} differs `;
      return { committed, rowsPerSec: (committed / ms) * 1000, pgPerRow: pgUs / committed, writerPerRow: (own.user + own.system) / committed, work, statements, roles, exact };
    };
    let runSeq = 0;
    for (const load of ['insert', 'mixed'] as Load[]) {
      const jobs = batches(load, o.rows, o.users);
      // Each round runs every variant once, 0 views first; a variant's ratio is taken within its round
      // (same minute of machine load), then the median over the rounds.
      // Untimed warm-up of every variant on a slice of the load: the first variant of round 1 used to run
      // on a cold server and a cold writer (catalog caches, code not yet compiled), which lowered its
      // round's ratios (a range reaching 0.94 while the other rounds sat at 1.3–1.4).
      for (const v of variants) await runVariant(v, jobs.slice(0, 20));
      const runs = new Map<string, VariantRun[]>(variants.map((v) => [v.name, []]));
      for (let round = 0; round < o.rounds; round++) {
        for (const v of variants) runs.get(v.name)!.push(await runVariant(v, jobs));
      }
      const base = runs.get('0 views')!;
      for (const v of variants) {
        const st = runs.get(v.name)![o.rounds - 1]!.statements;
        const roles = runs.get(v.name)![o.rounds - 1]!.roles;
        if (roles) printTable(`views, ${load}, ${v.name}: Postgres CPU µs per row by process, last round`, [roles]);
        if (st) printTable(`views, ${load}, ${v.name}: dearest statements of the last round (execution + planning, wall time per committed row)`, st.map((x) => ({ ...x })));
      }
      for (const v of variants) {
        const rs = runs.get(v.name)!;
        const ratios = rs.map((r, i) => r.pgPerRow / base[i]!.pgPerRow);
        const work = rs[rs.length - 1]!.work;
        const baseWork = base[base.length - 1]!.work;
        results.push({
          load,
          variant: v.name,
          rows: rs[0]!.committed,
          'rows/s': Math.round(median(rs.map((r) => r.rowsPerSec))),
          'pg µs/row': Number(median(rs.map((r) => r.pgPerRow)).toFixed(1)),
          'writer µs/row': Number(median(rs.map((r) => r.writerPerRow)).toFixed(1)),
          'pg × 0 views': Number(median(ratios).toFixed(2)),
          ...(o.rounds > 1 ? { 'range': `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` } : {}),
          ...(work && baseWork ? { 'buffers/row': Number(work.buffers.toFixed(2)), 'buffers × 0 views': Number((work.buffers / baseWork.buffers).toFixed(2)), 'WAL rec/row': Number(work.wal.toFixed(2)), 'WAL × 0 views': Number((work.wal / baseWork.wal).toFixed(2)) } : {}),
          verify: v.views.length === 0 ? '-' : rs.map((r) => r.exact).find((e) => e !== '') ?? '0 differing',
        });
      }
    }
    printTable(`views: ${o.rows} rows per load, ${o.users} users, batches of 1,000, median of ${o.rounds} round${o.rounds === 1 ? '' : 's'}`, results);
    const load = async (names: string[]) => {
      const dir = mkdtempSync(join(tmpdir(), 'bench-views-'));
      for (const n of names) writeFileSync(join(dir, `${n}.sql`), VIEWS[n]!);
      return loadViews(dir, await introspectCatalog(pool, ['bench_events']), pool);
    };
    const hot = await runHotGroup({ pool, sampler, postgresPid: pgServer.pid, log, reset: async () => void (await pool.query(TABLE)), load, partitions: o.partitions, batchesPerPartition: o.hotBatches, users: o.users });
    printTable(`views, hot group: 100 writers' rows per batch, ${o.partitions} partitions flushing at once, ${o.hotBatches} batches each`, hot);
    const run = runId('views');
    process.stdout.write(`results: ${writeResults(run, { options: o, results, hot })}\n`);
  } finally {
    await sampler.end();
    await pool.end();
    await pgServer.stop();
  }
}

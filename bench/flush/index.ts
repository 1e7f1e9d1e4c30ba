/**
 * `pnpm bench flush [--rows N] [--batches N] [--rounds N]`: the writer's flush
 * alone (no HTTP, no Redis), in this process, against a private Postgres
 * (fsync on): batches of single-row `queued` inserts shaped as the gateway
 * encodes them, committed by `flushBatch` two ways in turns (A B B A …):
 *   unnest  INSERT … SELECT FROM unnest($n::text[]) (SLUICE_COPY_MIN_ROWS=0)
 *   copy    COPY … FROM STDIN in the batch transaction (SLUICE_COPY_MIN_ROWS=1)
 * and prints, per batch size, CPU µs per row of this process (the writer's
 * side) and of Postgres (from /proc), medians over the rounds, with the ratio
 * of each pair taken in the same round: on a shared machine only those hold.
 */
import { cpuDelta, sampleCpu } from '../lib/cpu.ts';
import { median, printTable, runId, writeResults, type Row } from '../lib/report.ts';
import { createLogger, createPool, introspectCatalog, jobIdOf, migrate, startPostgres, writeIdOf } from '../lib/shared.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import type { BatchJob } from '@sluice/writer/flush/types.ts';
import { BENCH_TABLE_SQL } from '../write/scenarios.ts';

/** Options of the flush bench (see bench/run.ts for the flags). */
export interface FlushBenchOptions {
  /** Rows per batch; each size is measured (default 30, 200, 1000). */
  rows: number[];
  /** Rows flushed per variant per round. */
  rowsPerRound: number;
  rounds: number;
}

const PAYLOAD = JSON.stringify({ user: 'u_1234567', path: '/products/widgets/blue-widget-2000', ref: 'https://example.com/search?q=widgets&page=2', ua: 'Mozilla/5.0 (X11; Linux x86_64) bench' });
const VARIANTS = { unnest: 0, copy: 1 } as const;
type Variant = keyof typeof VARIANTS;

let seq = 0;
/** One batch of `rows` single-row insert requests, ~10 requests per job as the gateway coalesces them. */
function batch(rows: number): BatchJob[] {
  const jobs: BatchJob[] = [];
  for (let made = 0; made < rows; ) {
    const id = jobIdOf('main.1.0', 'benchflush', seq++);
    const n = Math.min(10, rows - made);
    const reqs = Array.from({ length: n }, (_, i) => ({ id: writeIdOf(id, i), ops: [{ t: 'bench_events', op: 'insert' as const, row: { kind: 'page_view', amount: String(made + i), payload: PAYLOAD } }] }));
    jobs.push({ id, data: { v: 1, reqs }, rows: n, attempts: 1 });
    made += n;
  }
  return jobs;
}

const selfCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Run the flush bench: print the table, write bench/results/flush-<time>.json. */
export async function runFlushBench(o: FlushBenchOptions): Promise<void> {
  const run = runId('flush');
  const pgServer = await startPostgres();
  const log = createLogger('bench', 'warn');
  const pool = createPool({ url: pgServer.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench-flush', log });
  try {
    await pool.query(BENCH_TABLE_SQL);
    await migrate(pool);
    const catalog = await introspectCatalog(pool, ['bench_events']);
    const ctx = (copyMinRows: number): FlushContext => ({ pool, catalog, cache: new StatementCache({ copyMinRows }), failpoints: new FailPoints([]), log, inTransaction: [] });
    const ctxs: Record<Variant, FlushContext> = { unnest: ctx(VARIANTS.unnest), copy: ctx(VARIANTS.copy) };
    const tracked = [{ name: 'postgres', pid: pgServer.pid }];
    const rowsOut: Row[] = [];
    for (const size of o.rows) {
      const batches = Math.max(1, Math.round(o.rowsPerRound / size));
      const per: Record<Variant, { writer: number[]; pg: number[]; rps: number[] }> = { unnest: { writer: [], pg: [], rps: [] }, copy: { writer: [], pg: [], rps: [] } };
      const ratios: { writer: number[]; pg: number[] } = { writer: [], pg: [] };
      // Warm up both (prepared statements, caches).
      for (const v of Object.keys(VARIANTS) as Variant[]) for (let i = 0; i < 3; i++) await flushBatch(ctxs[v], batch(size));
      for (let r = 0; r < o.rounds; r++) {
        const order: Variant[] = r % 2 === 0 ? ['unnest', 'copy'] : ['copy', 'unnest'];
        const got: Partial<Record<Variant, { writer: number; pg: number }>> = {};
        for (const v of order) {
          const work = Array.from({ length: batches }, () => batch(size)); // built outside the measured window
          const c0 = sampleCpu(tracked);
          const s0 = selfCpuUs();
          const t0 = performance.now();
          for (const b of work) await flushBatch(ctxs[v], b);
          const ms = performance.now() - t0;
          const rows = batches * size;
          const w = (selfCpuUs() - s0) / rows;
          const p = cpuDelta(c0, sampleCpu(tracked))['postgres']! / rows;
          per[v].writer.push(w);
          per[v].pg.push(p);
          per[v].rps.push((rows / ms) * 1000);
          got[v] = { writer: w, pg: p };
        }
        ratios.writer.push(got.unnest!.writer / got.copy!.writer);
        ratios.pg.push(got.unnest!.pg / got.copy!.pg);
      }
      for (const v of Object.keys(VARIANTS) as Variant[]) {
        rowsOut.push({ 'rows/batch': size, variant: v, 'rows/s': median(per[v].rps), 'writer µs/row': median(per[v].writer), 'postgres µs/row': median(per[v].pg) });
      }
      rowsOut.push({ 'rows/batch': size, variant: 'unnest ÷ copy (per round)', 'rows/s': null, 'writer µs/row': median(ratios.writer), 'postgres µs/row': median(ratios.pg) });
      await pool.query('TRUNCATE bench_events, sluice.applied_jobs');
    }
    printTable(`Flush only (this process = the writer's side; Postgres from /proc): medians of ${o.rounds} rounds, ~${o.rowsPerRound} rows per variant per round`, rowsOut);
    process.stdout.write(`\nresults: ${writeResults(run, { options: o, rows: rowsOut })}\n`);
  } finally {
    await pool.end().catch(() => {});
    await pgServer.destroy().catch(() => {});
  }
}

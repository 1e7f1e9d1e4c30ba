/**
 * The hot-group part of `pnpm bench views`: 100 writers hammering ONE group.
 * `partitions` flush loops run at once (each is a partition's one batch in
 * flight, on its own connection, the writer's own flush), every batch 100
 * single-row inserts (one per writer) — all into user 1, or spread over
 * `users` groups, or with no view. A view keeps one row per group, so every
 * batch's fold takes that row's lock until it commits: the fold is the last
 * statement of the batch, so batches of different partitions wait for each
 * other only over that tail (one upsert per group per batch, not per row).
 * The lock wait is sampled from pg_stat_activity (backends of the loops
 * waiting on a lock, every 2 ms): its share of the loops' time, beside
 * rows/s and Postgres CPU per row, from the same run.
 */
import type pg from 'pg';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import type { BatchJob } from '@sluice/writer/flush/types.ts';
import { ensureView, verifyView } from '@sluice/writer/views/build.ts';
import type { MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { ViewMaintainer } from '@sluice/writer/views/maintainer.ts';
import { sampleCpu } from '../lib/cpu.ts';
import type { Row } from '../lib/report.ts';
import { introspectCatalog } from '../lib/shared.ts';

export interface HotOptions {
  pool: pg.Pool;
  /** A second pool for the sampler (not counted among the loops' backends). */
  sampler: pg.Pool;
  postgresPid: number;
  log: Logger;
  /** Recreate the table (and the views) empty. */
  reset: () => Promise<void>;
  /** Load the view files named (none: no view). */
  load: (names: string[]) => Promise<MaintainedView[]>;
  partitions: number;
  batchesPerPartition: number;
  users: number;
}

const WRITERS = 100;

function batchOf(p: string, b: number, user: (i: number) => number, nextId: () => number): BatchJob {
  const reqs = Array.from({ length: WRITERS }, (_, i) => ({ id: `h${p}.${b}.${i}`, ops: [{ t: 'bench_events', op: 'insert' as const, row: { id: String(nextId()), user_id: String(user(i)), kind: 'buy', amount: String((i * 7) % 100), payload: 'x'.repeat(120) } }] }));
  return { id: `hot.${p}.${b}`, data: { v: 1, reqs }, rows: WRITERS, attempts: 1 } as BatchJob;
}

/** Run the three variants; rows of the result table. */
export async function runHotGroup(o: HotOptions): Promise<Row[]> {
  const variants: { name: string; views: string[]; user: (i: number, b: number) => number }[] = [
    { name: 'no view', views: [], user: () => 1 },
    { name: `view, ${o.users} groups`, views: ['user_stats'], user: (i, b) => (i * 7919 + b * 104729) % o.users },
    { name: 'view, 1 hot group', views: ['user_stats'], user: () => 1 },
  ];
  const out: Row[] = [];
  for (const v of variants) {
    await o.reset();
    const views = await o.load(v.views);
    for (const m of views) await ensureView(o.pool, m, o.log);
    const maintainer = new ViewMaintainer(views);
    const catalog = await introspectCatalog(o.pool, ['bench_events']);
    const ctx: FlushContext = { pool: o.pool, catalog, cache: new StatementCache(), failpoints: new FailPoints([]), log: o.log, inTransaction: views.length ? [maintainer.inTransaction] : [], beforeStatements: views.length ? [maintainer.before] : [] };
    let id = 0;
    const nextId = () => ++id;
    let samples = 0;
    let waiting = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await o.sampler.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'bench-views' AND wait_event_type = 'Lock'`);
        samples++;
        waiting += Number(rows[0]!.n);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const cpu0 = sampleCpu([{ name: 'postgres', pid: o.postgresPid }]);
    const t0 = performance.now();
    let committed = 0;
    await Promise.all(
      Array.from({ length: o.partitions }, async (_, p) => {
        for (let b = 0; b < o.batchesPerPartition; b++) {
          // Awaited first: `committed += await …` would read `committed` before the wait and lose the other loops' counts.
          const r = await flushBatch(ctx, [batchOf(`${v.name}.${p}`, b, (i) => v.user(i, b * o.partitions + p), nextId)]);
          committed += r.stats.requests;
        }
      }),
    );
    const ms = performance.now() - t0;
    sampling = false;
    await sampler;
    const pgUs = sampleCpu([{ name: 'postgres', pid: o.postgresPid }]).postgres! - cpu0.postgres!;
    let exact = '-';
    for (const m of views) exact = (await verifyView(o.pool, m)).length === 0 ? '0 differing' : 'DIFFERS';
    out.push({
      variant: v.name,
      partitions: o.partitions,
      rows: committed,
      'rows/s': Math.round((committed / ms) * 1000),
      'pg µs/row': Number((pgUs / committed).toFixed(1)),
      // Mean number of the loops' backends waiting on a lock, over the loops: the share of flush time spent waiting.
      'lock wait share': `${((100 * waiting) / Math.max(1, samples) / o.partitions).toFixed(1)} %`,
      verify: exact,
    });
  }
  return out;
}

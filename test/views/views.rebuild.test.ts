/**
 * Rebuilding read models: `rebuild` recomputes a view online while batches
 * keep committing (their deltas are folded into the result at the swap) and
 * swaps it in atomically; a view whose file changed is rebuilt from the new
 * file at the writer's start, and a writer still holding the old file stops
 * maintaining it (retried, never dead-lettered) instead of folding into the
 * new shape.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { classify } from '@sluice/writer/flush/classify.ts';
import { ensureView, redefineIfChanged, verifyView } from '@sluice/writer/views/build.ts';
import { loadViews } from '@sluice/writer/views/load.ts';
import { ViewMaintainer, ViewRedefinedError, type MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { rebuildView, ViewNotReadyError } from '@sluice/shared/views/rebuild.ts';
import { ViewRebuilds, ViewRebuildRunningError } from '@sluice/shared/views/rebuild-job.ts';
import { viewStatusRows } from '@sluice/shared/views/status.ts';
import { BUILD_LOCK, viewLockKey } from '@sluice/shared/views/locks.ts';
import type { Queryable } from '@sluice/shared/db/pool.ts';
import type { QueryConfig, QueryResult } from 'pg';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

/** Wait until `cond` holds (the harness's eventually waits for a call that does not throw: a false would end it at once). */
const until = (cond: () => boolean | Promise<boolean>, ms = 30_000) =>
  eventually(async () => {
    if (!(await cond())) throw new Error('not yet');
  }, ms);
import { del, ins, job, quiet, upd, type Req } from '../writer/helpers.ts';

const SCHEMA = `
CREATE TABLE ev (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount numeric
);
CREATE INDEX ON ev (user_id);
INSERT INTO ev SELECT g, g % 40, 'click', g % 300 FROM generate_series(1, 100000) g;`;

const STATS = 'select user_id, count(*) as events, sum(amount) as total, min(amount) as lo, max(amount) as hi from ev group by user_id';

let env: TestEnv;
let base: FlushContext;

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'views-rebuild-'));
  for (const [n, sql] of Object.entries(files)) writeFileSync(join(dir, `${n}.sql`), sql);
  return dir;
}

function contextFor(views: MaintainedView[]): FlushContext {
  const m = new ViewMaintainer(views);
  return { ...base, beforeStatements: [m.before], inTransaction: [m.inTransaction] };
}

let nextId = 200_000;
/** A mixed request: inserts, updates moving rows across groups and changing min/max, deletes. */
function mixed(): Req {
  const x = Math.random();
  const id = String(1 + Math.floor(Math.random() * 100_000));
  if (x < 0.5) return ins('ev', { id: String(nextId++), user_id: String(Math.floor(Math.random() * 40)), kind: 'buy', amount: String(Math.floor(Math.random() * 1000) - 200) });
  if (x < 0.8) return upd('ev', [id], { user_id: String(Math.floor(Math.random() * 40)), amount: String(Math.floor(Math.random() * 1000) - 200) });
  return del('ev', [id]);
}

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  base = { pool: env.pool, catalog: await introspectCatalog(env.pool, ['ev']), cache: new StatementCache(), failpoints: new FailPoints([]), log: quiet, inTransaction: [] };
}, 120_000);
afterAll(async () => env?.cleanup());

describe('view rebuild', () => {
  it('recomputes a view online under a live write load and swaps it in: verify finds 0 differing groups', async () => {
    const views = await loadViews(dirWith({ user_stats: STATS }), base.catalog, env.pool);
    const v = views[0]!;
    await ensureView(env.pool, v, quiet);
    const ctx = contextFor(views);
    // Damage the live table (as rows written around Sluice would): verify sees it, the rebuild repairs it.
    await env.pool.query('UPDATE sluice_views.user_stats__data SET events = events + 7, lo = -99999 WHERE user_id < 5');
    expect((await verifyView(env.pool, v)).length).toBeGreaterThan(0);

    let stop = false;
    let batches = 0;
    const load = (async () => {
      while (!stop) {
        await flushBatch(ctx, [job(Array.from({ length: 40 }, mixed))]);
        batches++;
      }
    })();
    await until(() => batches >= 3);
    const before = batches;
    // A slow recompute, so batches surely commit between its snapshot and its swap.
    await env.pool.query('ALTER TABLE ev SET (parallel_workers = 0)');
    const r = await rebuildView(env.pool, v.bound);
    const during = batches - before;
    const after = batches;
    await until(() => batches >= after + 3);
    stop = true;
    await load;

    expect(during).toBeGreaterThan(0);
    expect(r.rows).toBe(40);
    // Deltas of batches the recompute's snapshot did not see were folded into the new table at the swap.
    expect(r.logged).toBeGreaterThan(0);
    expect(await verifyView(env.pool, v)).toEqual([]);
    const { rows } = await env.pool.query<{ state: string; log: string; next: string | null }>(
      `SELECT state, (SELECT count(*) FROM sluice_views.user_stats__log) AS log, to_regclass('sluice_views.user_stats__next')::text AS next FROM sluice.views WHERE name = 'user_stats'`,
    );
    expect(rows[0]).toEqual({ state: 'ready', log: '0', next: null });
    // The read view follows the swapped table; a second rebuild works on the renamed one.
    await env.pool.query('SELECT * FROM sluice_views.user_stats LIMIT 1');
    await rebuildView(env.pool, v.bound);
    expect(await verifyView(env.pool, v)).toEqual([]);
  }, 180_000);

  it('runs an admin rebuild in the background; a second one is refused while it runs; a stopping gateway leaves it interrupted, redone by the next', async () => {
    const views = await loadViews(dirWith({ by_kind: 'select kind, count(*) as n, sum(amount) as total from ev group by kind' }), base.catalog, env.pool);
    const v = views[0]!;
    await ensureView(env.pool, v, quiet);
    const shards = () => [{ name: 'main', pool: env.pool }];
    const status = async () => (await viewStatusRows(env.pool, 'by_kind'))[0]!;
    // A transaction with an id, held open: the rebuild waits for it (phase `waiting`).
    const held = await env.pool.connect();
    try {
      await held.query('BEGIN');
      await held.query('SELECT pg_current_xact_id()');
      const first = new ViewRebuilds(shards, quiet);
      await first.start(v.bound);
      expect((await status()).rebuild).toMatchObject({ status: 'running' });
      // Its first step (state `rebuilding`, the table beside the live one) runs just after start returns.
      await until(async () => (await status()).state === 'rebuilding');
      expect((await status()).rebuild).toMatchObject({ status: 'running', phase: 'waiting' });
      await expect(new ViewRebuilds(shards, quiet).start(v.bound)).rejects.toBeInstanceOf(ViewRebuildRunningError);
      // The gateway stops: close ends the rebuild's session at once, it does not wait for the held transaction.
      await first.close();
      expect(await status()).toMatchObject({ state: 'rebuilding', rebuild: { status: 'interrupted', finishedAt: null } });
      await held.query('COMMIT');
    } finally {
      held.release();
    }
    const next = new ViewRebuilds(shards, quiet);
    await next.start(v.bound);
    await until(async () => (await status()).rebuild?.status === 'done');
    expect(await status()).toMatchObject({ state: 'ready', rebuild: { status: 'done', phase: null, error: null } });
    expect(await verifyView(env.pool, v)).toEqual([]);
    await next.close();
  }, 120_000);

  it('says done, not interrupted, of a rebuild that ends between the status\'s read of the row and its read of the locks', async () => {
    const views = await loadViews(dirWith({ by_kind_race: 'select kind, count(*) as n from ev group by kind' }), base.catalog, env.pool);
    await ensureView(env.pool, views[0]!, quiet);
    // A rebuild under way, as rebuild-job.ts leaves it: the build lock held by its session, started, unfinished.
    const runner = await env.pool.connect();
    try {
      await runner.query('SELECT pg_advisory_lock($1, $2)', [BUILD_LOCK, viewLockKey('by_kind_race')]);
      await runner.query(`UPDATE sluice.views SET rebuild_started_at = now(), rebuild_phase = 'swapping', rebuild_finished_at = NULL WHERE name = 'by_kind_race'`);
      expect((await viewStatusRows(env.pool, 'by_kind_race'))[0]!.rebuild).toMatchObject({ status: 'running' });
      // It ends (records its end, then lets the lock go, as rebuild.ts and rebuild-job.ts do) just after the status read the row.
      let reads = 0;
      const racing: Queryable = {
        query: async (text: string | QueryConfig, values?: unknown[]) => {
          const r = await env.pool.query(text, values);
          if (++reads === 1) {
            await runner.query(`UPDATE sluice.views SET rebuild_phase = NULL, rebuild_finished_at = now() WHERE name = 'by_kind_race'`);
            await runner.query('SELECT pg_advisory_unlock($1, $2)', [BUILD_LOCK, viewLockKey('by_kind_race')]);
          }
          return r as QueryResult<any>;
        },
      } as Queryable;
      expect((await viewStatusRows(racing, 'by_kind_race'))[0]!.rebuild).toMatchObject({ status: 'done', phase: null });
    } finally {
      runner.release();
    }
  });

  it('refuses to rebuild a view that is not built yet', async () => {
    const views = await loadViews(dirWith({ unbuilt: 'select kind, count(*) as n from ev group by kind' }), base.catalog, env.pool);
    await expect(rebuildView(env.pool, views[0]!.bound)).rejects.toBeInstanceOf(ViewNotReadyError);
  });

  it('rebuilds a view whose file changed from the new file at start; a writer with the old file retries, never folds', async () => {
    const oldViews = await loadViews(dirWith({ user_stats: STATS }), base.catalog, env.pool);
    await ensureView(env.pool, oldViews[0]!, quiet);
    const oldCtx = contextFor(oldViews);
    const changed = STATS.replace('max(amount) as hi', 'max(amount) as hi, avg(amount) as mean');
    const newViews = await loadViews(dirWith({ user_stats: changed }), base.catalog, env.pool);
    // Same file: nothing to do.
    expect(await redefineIfChanged(env.pool, oldViews[0]!, quiet)).toBe('unchanged');
    expect(await redefineIfChanged(env.pool, newViews[0]!, quiet)).toBe('redefined');
    const st = await env.pool.query<{ state: string; definition: string }>(`SELECT state, definition FROM sluice.views WHERE name = 'user_stats'`);
    expect(st.rows[0]).toEqual({ state: 'building', definition: changed });
    // One way: the old file is now an older definition, never rebuilt back to.
    expect(await redefineIfChanged(env.pool, oldViews[0]!, quiet)).toBe('older');

    // The old writer's batch fails with a retryable error; nothing of it committed.
    const id = String(nextId++);
    const err = await flushBatch(oldCtx, [job([ins('ev', { id, user_id: '3', kind: 'buy', amount: '5' })])]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ViewRedefinedError);
    expect(classify(err)).toBe('retry');
    expect((await env.pool.query('SELECT 1 FROM ev WHERE id = $1', [id])).rowCount).toBe(0);

    // The new writer's batches commit while the view is built; the view then has the new column and is exact.
    const newCtx = contextFor(newViews);
    const building = ensureView(env.pool, newViews[0]!, quiet);
    for (let i = 0; i < 5; i++) await flushBatch(newCtx, [job(Array.from({ length: 30 }, mixed))]);
    const built = await building;
    expect(built.state).toBe('built');
    for (let i = 0; i < 3; i++) await flushBatch(newCtx, [job(Array.from({ length: 30 }, mixed))]);
    expect(await verifyView(env.pool, newViews[0]!)).toEqual([]);
    const { rows } = await env.pool.query('SELECT * FROM sluice_views.user_stats ORDER BY user_id LIMIT 1');
    expect(Object.keys(rows[0]!)).toEqual(['user_id', 'events', 'total', 'lo', 'hi', 'mean']);
  }, 180_000);
});

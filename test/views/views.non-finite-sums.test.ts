/**
 * Regression: a running sum cannot take a NaN or an infinity back out.
 * numeric holds NaN, Infinity and -Infinity (Postgres 14+): once one of them
 * entered a group's running sum (`__s`), the sum stayed NaN or infinite after
 * the row that brought it was deleted or updated to a finite value, while
 * `SELECT sum(…)` over the rows left gave a number — the view drifted from
 * its table, and `verify` said so. Now a group whose running sum is not
 * finite is recomputed from the base rows by any batch that touches it, and
 * so is one whose delta's sum is not finite (an online build folds the
 * logged deltas of several batches at once: one may add an infinity that a
 * later one removes, Infinity − Infinity being NaN).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { ensureView } from '@sluice/writer/views/build.ts';
import type { MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { expectExact, maintainedViews, rng } from './support.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { del, ins, job, quiet, upd, type Req } from '../writer/helpers.ts';

const SCHEMA = `CREATE TABLE ledger (id int PRIMARY KEY, acct int NOT NULL, amount numeric, fee numeric(8,2));`;

const VIEWS: Record<string, string> = {
  by_acct: 'select acct, count(*) as n, count(amount) as amounts, sum(amount) as total, avg(amount) as mean, sum(fee) as fees, max(amount) as top from ledger group by acct',
  by_fee: 'select fee, count(*) as n, sum(amount) as total, avg(amount) as mean from ledger group by fee',
};

let env: TestEnv;
let ctx: FlushContext;
let views: MaintainedView[];

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ({ ctx, views } = await maintainedViews(env.pool, ['ledger'], VIEWS, true));
});
afterAll(async () => env?.cleanup());

const total = async (acct: number) => (await env.pool.query<{ total: string | null }>('SELECT total::text FROM sluice_views.by_acct WHERE acct = $1', [acct])).rows[0]?.total;

describe('read models: NaN and infinite values in summed numeric columns', () => {
  it('recompute the group once such a value leaves it', async () => {
    const row = (id: number, acct: number, amount: string | null, fee: string | null = '1.50') => ({ id: String(id), acct: String(acct), amount, fee });
    await flushBatch(ctx, [job([ins('ledger', row(1, 1, '10')), ins('ledger', row(2, 1, 'NaN')), ins('ledger', row(3, 2, 'Infinity')), ins('ledger', row(4, 2, '5')), ins('ledger', row(5, 3, 'Infinity')), ins('ledger', row(6, 3, '-Infinity', 'NaN'))])]);
    await expectExact(env.pool, views);
    expect([await total(1), await total(2), await total(3)]).toEqual(['NaN', 'Infinity', 'NaN']);

    // The value that made the sum non-finite leaves: deleted, updated to a number, moved to another group.
    await flushBatch(ctx, [job([del('ledger', ['2']), upd('ledger', ['3'], { amount: '7' }), upd('ledger', ['6'], { acct: '1', fee: '2' })])]);
    await expectExact(env.pool, views);
    expect([await total(1), await total(2), await total(3)]).toEqual(['-Infinity', '12', 'Infinity']);

    // In one batch: the value arrives and leaves again; a group that only gains rows keeps its NaN.
    await flushBatch(ctx, [job([ins('ledger', row(7, 4, 'NaN')), ins('ledger', row(8, 4, '1'))]), job([del('ledger', ['7']), ins('ledger', row(9, 5, 'NaN'))]), job([ins('ledger', row(10, 5, '3'))])]);
    await expectExact(env.pool, views);
    expect([await total(4), await total(5)]).toEqual(['1', 'NaN']);
  }, 60_000);

  it('stay exact under random batches mixing them with numbers', async () => {
    const r = rng(11);
    const values = ['NaN', 'Infinity', '-Infinity', '0', '2.5', '-7', '1e3', null];
    let next = 100;
    for (let b = 0; b < 25; b++) {
      const reqs: Req[] = Array.from({ length: 1 + Math.floor(r() * 30) }, () => {
        const x = r();
        const amount = values[Math.floor(r() * values.length)]!;
        const fee = r() < 0.1 ? 'NaN' : (r() * 100).toFixed(3);
        if (x < 0.55 || next < 110) return ins('ledger', { id: String(next++), acct: String(10 + Math.floor(r() * 4)), amount, fee });
        const id = String(100 + Math.floor(r() * (next - 100)));
        return x < 0.8 ? upd('ledger', [id], { amount, acct: String(10 + Math.floor(r() * 4)) }) : del('ledger', [id]);
      });
      await flushBatch(ctx, [job(reqs)]);
      await expectExact(env.pool, views);
    }
  }, 120_000);

  it('stay exact when an online build folds logged deltas that add such a value and remove it again', async () => {
    for (const n of Object.keys(VIEWS)) await env.pool.query(`DROP TABLE sluice_views.${n}__data CASCADE; DROP TABLE sluice_views.${n}__log; DELETE FROM sluice.views WHERE name = '${n}'`);
    await env.pool.query(`INSERT INTO ledger (id, acct, amount, fee) VALUES (1000, 99, 4, 1), (1001, 99, 6, 1)`);
    // Deterministic overlap: an older transaction holds the build at its wait for older transactions;
    // meanwhile a lock on the views' storage is taken, which the backfill's first write (after its
    // snapshot) then waits for. The batches committed in that wait are in the log, not in the snapshot.
    const older = await env.pool.connect();
    const blocker = await env.pool.connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT txid_current()');
      const building = Promise.all(views.map((v) => ensureView(env.pool, v, quiet)));
      const buildingViews = async () => (await env.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice.views WHERE state = 'building'`)).rows[0]!.n;
      while ((await buildingViews()) < views.length) await new Promise((r) => setTimeout(r, 20));
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${Object.keys(VIEWS).map((n) => `sluice_views.${n}__data`).join(', ')} IN SHARE MODE`);
      await older.query('COMMIT');
      const waiting = async () => (await env.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation IN (${Object.keys(VIEWS).map((n) => `'sluice_views.${n}__data'::regclass`).join(', ')})`)).rows[0]!.n;
      while ((await waiting()) === 0) await new Promise((r) => setTimeout(r, 20));
      // An existing group (finite in the snapshot) and a new one each get an infinity, then lose it.
      await flushBatch(ctx, [job([ins('ledger', { id: '1002', acct: '99', amount: 'Infinity', fee: '1' }), ins('ledger', { id: '1003', acct: '98', amount: '-Infinity', fee: '1' }), ins('ledger', { id: '1004', acct: '98', amount: '2', fee: '1' })])]);
      await flushBatch(ctx, [job([del('ledger', ['1002']), upd('ledger', ['1003'], { amount: '5' })])]);
      await blocker.query('COMMIT');
      const built = await building;
      expect(built.map((b) => b.logged).reduce((a, b) => a + b, 0), 'deltas folded from the log').toBeGreaterThan(0);
      await expectExact(env.pool, views);
      expect([await total(99), await total(98)]).toEqual(['10', '7']);
    } finally {
      await older.query('ROLLBACK').catch(() => {});
      await blocker.query('ROLLBACK').catch(() => {});
      older.release();
      blocker.release();
    }
  }, 60_000);
});

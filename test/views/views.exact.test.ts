/**
 * Read models kept exact in the batch transaction: after random mixed batches
 * (inserts, upserts, updates that move rows between groups and in and out of
 * the WHERE, deletes, poison requests bisected away, redelivered jobs), every
 * view equals a fresh `SELECT … GROUP BY` (verify reports 0 differing groups);
 * a view created over a filled table while batches commit is exact too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { ensureView } from '@sluice/writer/views/build.ts';
import type { MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { expectExact, maintainedViews, rng } from './support.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { del, ins, job, quiet, upd, ups, type Req } from '../writer/helpers.ts';

const SCHEMA = `
CREATE TABLE ev (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount numeric CHECK (amount IS NULL OR amount > -1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  tag text
);
CREATE INDEX ON ev (user_id);`;

const VIEWS: Record<string, string> = {
  user_stats: `select user_id, count(*) as events, count(amount) as n_amount, sum(amount) as total, min(amount) as lo, max(amount) as hi,
                      avg(amount) as mean, max(created_at) as last_at from ev where kind <> 'test' group by user_id`,
  by_tag: `select user_id, tag, count(*) as n, min(created_at) as first_at from ev where amount between -50 and 500 or amount is null group by user_id, tag`,
};

let env: TestEnv;
let ctx: FlushContext;
let views: MaintainedView[];

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ({ ctx, views } = await maintainedViews(env.pool, ['ev'], VIEWS, false));
});
afterAll(async () => env?.cleanup());

/** A random request against ids 1..maxId (a key may be written several times in one batch). */
function randomReq(r: () => number, maxId: number): Req {
  const id = String(1 + Math.floor(r() * maxId));
  const user = String(1 + Math.floor(r() * 8));
  const kinds = ['click', 'buy', 'test'];
  const amount = r() < 0.15 ? null : String(Math.floor(r() * 1200) - 100);
  const row = { id, user_id: user, kind: kinds[Math.floor(r() * 3)]!, amount, tag: r() < 0.3 ? null : `t${Math.floor(r() * 3)}` };
  const x = r();
  if (x < 0.02) return ins('ev', { ...row, amount: '-5000' }); // poison: CHECK violation, bisected away
  if (x < 0.35) return ins('ev', row); // may collide with an existing id: 23505, bisected away
  if (x < 0.4) return { ops: [{ t: 'ev', op: 'insert-ignore', row }] }; // skipped when the id exists
  if (x < 0.55) return ups('ev', r() < 0.5 ? row : { ...row, created_at: new Date(1_700_000_000_000 + Math.floor(r() * 1e9)).toISOString() });
  if (x < 0.8) return upd('ev', [id], r() < 0.5 ? { amount } : { user_id: user, kind: row.kind });
  return del('ev', [id]);
}

async function eventually(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 10));
  }
}

const expectViewsExact = () => expectExact(env.pool, views);

describe('read models', () => {
  it('are exact after random mixed batches with poison, updates across groups and deletes', async () => {
    for (const v of views) await ensureView(env.pool, v, quiet);
    const r = rng(14);
    let dead = 0;
    for (let b = 0; b < 60; b++) {
      const jobs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => job(Array.from({ length: 1 + Math.floor(r() * 40) }, () => randomReq(r, 120))));
      const res = await flushBatch(ctx, jobs);
      dead += res.stats.dead.length;
      // A redelivered job is skipped by the dedupe record: the views do not count it twice.
      if (b % 10 === 3) await flushBatch(ctx, [jobs[0]!]);
      if (b % 15 === 14) await expectViewsExact();
    }
    expect(dead).toBeGreaterThan(0);
    const { rows } = await env.pool.query<{ n: string }>('SELECT count(*) AS n FROM sluice_views.user_stats');
    expect(Number(rows[0]!.n)).toBeGreaterThan(3);
    await expectViewsExact();
  }, 180_000);

  it('refuses nothing it accepted: every aggregate is readable through the view', async () => {
    const { rows } = await env.pool.query('SELECT * FROM sluice_views.user_stats ORDER BY user_id LIMIT 1');
    expect(Object.keys(rows[0]!)).toEqual(['user_id', 'events', 'n_amount', 'total', 'lo', 'hi', 'mean', 'last_at']);
  });

  it('is built online over a filled table while batches commit, then exact', async () => {
    // Rows written outside Sluice are not seen by the views: drop them, fill the table, build them again under load.
    for (const n of Object.keys(VIEWS)) await env.pool.query(`DROP TABLE sluice_views.${n}__data CASCADE; DROP TABLE sluice_views.${n}__log; DELETE FROM sluice.views WHERE name = '${n}'`);
    await env.pool.query(`INSERT INTO ev (id, user_id, kind, amount, tag) SELECT 1000 + g, g % 50, 'click', g % 700 - 60, 't' || (g % 4) FROM generate_series(1, 200000) g`);
    const r = rng(7);
    let stop = false;
    let batches = 0;
    const load = (async () => {
      while (!stop) {
        await flushBatch(ctx, [job(Array.from({ length: 30 }, () => randomReq(r, 201000)))]);
        batches++;
      }
    })();
    await eventually(() => batches >= 2);
    // A transaction older than the build holds it at step 2 (it waits for older transactions)
    // until batches have committed into its log: overlap by construction, not by timing.
    const older = await env.pool.connect();
    await older.query('BEGIN');
    await older.query('SELECT txid_current()');
    const building = Promise.all(views.map((v) => ensureView(env.pool, v, quiet)));
    const buildingViews = async () => (await env.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice.views WHERE state = 'building'`)).rows[0]!.n;
    while ((await buildingViews()) < views.length) await new Promise((r) => setTimeout(r, 20));
    const during = batches;
    await eventually(() => batches >= during + 3);
    await older.query('COMMIT');
    older.release();
    const [built, other] = await building;
    const committedDuring = batches - during;
    const after = batches;
    await eventually(() => batches >= after + 3);
    stop = true;
    await load;
    expect([built!.state, other!.state]).toEqual(['built', 'built']);
    // Writes went on while the view was built: batches committed, deltas were logged and folded.
    expect(committedDuring).toBeGreaterThan(0);
    expect(built!.logged + other!.logged).toBeGreaterThan(0);
    await expectViewsExact();
  }, 180_000);
});

/**
 * Regression: two writers whose view files differ flip-flopped the view. A
 * writer rebuilt a view whose stored definition differed from its file, so an
 * old writer restarted after a newer one rebuilt it back to the old
 * definition (and the newer one forward again at its next start). Now
 * redefinition is one way (sluice.view_definitions): writer A (file v1),
 * writer B (file v2) rebuilds, A restarted does not rebuild back, says why,
 * and commits nothing of the view's table until its file is updated; the
 * writes wait in the queue and nothing is lost.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

const SQL = `
CREATE TABLE ev (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  amount numeric
);
INSERT INTO ev SELECT g, g % 10, g % 50 FROM generate_series(1, 2000) g;`;

const V1 = 'select user_id, count(*) as events, sum(amount) as total from ev group by user_id';
const V2 = 'select user_id, count(*) as events, sum(amount) as total, max(amount) as hi from ev group by user_id';

describe('view redefinition is one way', () => {
  let env: TestEnv;
  const procs: TsProcess[] = [];
  const dirA = mkdtempSync(join(tmpdir(), 'views-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'views-b-'));
  let common: Record<string, string>;

  beforeAll(async () => {
    env = await createTestEnv({ sql: SQL });
    writeFileSync(join(dirA, 'user_stats.sql'), V1);
    writeFileSync(join(dirB, 'user_stats.sql'), V2);
    common = {
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      SLUICE_QUEUE_PREFIX: env.prefix,
      SLUICE_TABLES: 'ev',
      SLUICE_PARTITIONS: '2',
      SLUICE_HOST: '127.0.0.1',
      SLUICE_LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
    };
  }, 120_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await env?.cleanup();
  });

  async function writer(name: string, dir: string): Promise<TsProcess> {
    const p = await startTsProcess('writer/src/main.ts', { name, env: { ...common, SLUICE_VIEWS_DIR: dir }, ready: /writer started/, timeoutMs: 90_000 });
    procs.push(p);
    return p;
  }
  async function stop(p: TsProcess): Promise<void> {
    procs.splice(procs.indexOf(p), 1);
    await p.stop();
  }
  const stored = async () => (await env.pool.query<{ definition: string; state: string }>(`SELECT definition, state FROM sluice.views WHERE name = 'user_stats'`)).rows[0];
  const readyWith = (definition: string) =>
    eventually(async () => {
      const s = await stored();
      if (s?.state !== 'ready' || s.definition !== definition) throw new Error(`view: ${JSON.stringify(s)}`);
    }, 60_000, 200);

  it('an old writer restarted after a newer one does not rebuild back; its writes wait until its file is updated', async () => {
    const a1 = await writer('writer-a', dirA);
    await readyWith(V1);
    await stop(a1);
    const b = await writer('writer-b', dirB);
    await readyWith(V2);
    await stop(b);

    // A, still on v1, restarted alone: the view stays v2 and ready (not rebuilt back), and A says why.
    const a2 = await writer('writer-a-restarted', dirA);
    expect(await stored()).toEqual({ definition: V2, state: 'ready' });
    expect(a2.output()).toContain("this writer's file is an older definition of view user_stats");
    const history = await env.pool.query<{ definition: string }>(`SELECT definition FROM sluice.view_definitions WHERE name = 'user_stats' ORDER BY defined_at`);
    expect(history.rows.map((r) => r.definition)).toEqual([V1, V2]);
    const viewBefore = (await env.pool.query('SELECT * FROM sluice_views.user_stats ORDER BY user_id')).rows;

    // Writes through a gateway, acknowledged `queued`: A takes them and retries, committing none.
    const port = await freePort();
    const gw = await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: { ...common, SLUICE_VIEWS_DIR: dirB, SLUICE_PORT: String(port) }, ready: /gateway listening/, timeoutMs: 90_000 });
    procs.push(gw);
    const ids = Array.from({ length: 40 }, (_, i) => 10_000 + i);
    for (const id of ids) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/tables/ev`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, user_id: id % 10, amount: 1000 }) });
      expect(res.status).toBe(202);
    }
    // The batches were tried (and refused, retryable) more than once.
    await eventually(() => {
      const tries = a2.output().split('\n').filter((l) => l.includes('batch failed') && l.includes('older definition of view user_stats')).length;
      if (tries < 2) throw new Error(`${tries} refused attempts so far`);
    }, 60_000, 200);
    const committed = await env.pool.query('SELECT id FROM ev WHERE id >= 10000');
    expect(committed.rowCount).toBe(0);
    expect(await stored()).toEqual({ definition: V2, state: 'ready' });
    expect((await env.pool.query('SELECT * FROM sluice_views.user_stats ORDER BY user_id')).rows).toEqual(viewBefore);

    // A's file updated to v2 and A restarted: every queued write commits, once, and the view is exact.
    await stop(a2);
    writeFileSync(join(dirA, 'user_stats.sql'), V2);
    await writer('writer-a-updated', dirA);
    await eventually(async () => {
      const n = (await env.pool.query<{ n: string }>('SELECT count(*) AS n FROM ev WHERE id >= 10000')).rows[0]!.n;
      if (Number(n) !== ids.length) throw new Error(`${n} of ${ids.length} committed`);
    }, 60_000, 200);
    expect(await stored()).toEqual({ definition: V2, state: 'ready' });
    const verify = await fetch(`http://127.0.0.1:${port}/v1/admin/views/user_stats/verify`, { method: 'POST' });
    expect(await verify.json()).toMatchObject({ view: 'user_stats', differing: 0 });
    const hi = await env.pool.query<{ hi: string; events: string }>('SELECT hi::text, events::text FROM sluice_views.user_stats WHERE user_id = 3');
    expect(hi.rows[0]).toEqual({ hi: '1000', events: '204' });
  }, 480_000);
});

/**
 * RELIABILITY row 30 over the real processes: read models stay exact through
 * the fault suite's kinds of faults under a mixed write load (plain inserts,
 * upserts, updates moving rows between groups, deletes):
 *
 * - a writer SIGKILLed mid-batch (held before COMMIT, every statement and the
 *   views' fold run): rolled back, its jobs redelivered;
 * - a writer SIGKILLed after COMMIT, before its jobs were marked done: the
 *   jobs redelivered, skipped by their dedupe records;
 * - a writer SIGKILLed at a random moment of the load;
 * - poison requests (CHECK violations, inserts of an existing key)
 *   bisected away and dead-lettered;
 * - every dead letter replayed through the admin API once the CHECK is
 *   dropped (the CHECK ones then commit, the duplicates are dead-lettered
 *   again).
 *
 * Then `verify` finds 0 differing groups in every view. The load's size is
 * SLUICE_VIEWS_FAULT_WRITES (default 2,000, for CI; the issue's target is
 * 100,000: `SLUICE_VIEWS_FAULT_WRITES=100000 pnpm vitest run test/faults/views.exact-after-faults.test.ts`).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, logged } from './support/index.ts';
import { startCluster, FAULT_TABLES, type FaultCluster, type GatewayProc } from './support/cluster.ts';

const WRITES = Number(process.env.SLUICE_VIEWS_FAULT_WRITES ?? 2000);
const CLIENTS = 16;
/** Keys the upserts, updates and deletes pick from (seeded before the views are built). */
const KEYS = Math.max(1000, Math.round(WRITES / 10));

const SQL = `
CREATE TABLE v_ev (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount int CONSTRAINT v_ev_amount_check CHECK (amount IS NULL OR amount > -1000),
  tag text
);
CREATE INDEX ON v_ev (user_id);
INSERT INTO v_ev SELECT g, g % 37, 'click', g % 500, 't' || (g % 3) FROM generate_series(1, ${KEYS}) g;`;

const VIEWS: Record<string, string> = {
  user_stats: `select user_id, count(*) as events, count(amount) as n_amount, sum(amount) as total, min(amount) as lo, max(amount) as hi, avg(amount) as mean from v_ev where kind <> 'test' group by user_id`,
  by_tag: 'select user_id, tag, count(*) as n, max(amount) as hi from v_ev group by user_id, tag',
};

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'views-faults-'));
  for (const [n, sql] of Object.entries(VIEWS)) writeFileSync(join(dir, `${n}.sql`), sql);
  // Short batches (many of them, so a kill lands in one), generous locks for a loaded machine.
  cluster = await startCluster({ env: { SLUICE_TABLES: `${FAULT_TABLES},v_ev`, SLUICE_VIEWS_DIR: dir, SLUICE_BATCH_MAX_ROWS: '200' } });
  await cluster.pool.query(SQL);
  gateway = await cluster.startGateway();
}, 120_000);
afterAll(async () => cluster?.stop());

/** A seeded PRNG so a run can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

let fresh = 10_000_000;
/** One write of the mix (queued ack: 202), as a function that sends it (again, after a 503). */
function oneWrite(r: () => number): () => Promise<Response> {
  const url = `${gateway.url}/v1/tables/v_ev`;
  const id = 1 + Math.floor(r() * KEYS);
  const row = { user_id: Math.floor(r() * 41), kind: r() < 0.2 ? 'test' : 'buy', amount: r() < 0.1 ? null : Math.floor(r() * 900) - 100, tag: r() < 0.2 ? null : `t${Math.floor(r() * 4)}` };
  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => () =>
    fetch(path, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const x = r();
  if (x < 0.03) return send('POST', url, { id: fresh++, ...row, amount: -5000 }); // poison: CHECK violation (23514)
  if (x < 0.06) return send('POST', url, { id, ...row }); // an existing key, mostly: 23505, dead-lettered
  if (x < 0.35) return send('POST', url, { id: fresh++, ...row });
  if (x < 0.55) return send('POST', url, { id, ...row }, { prefer: 'resolution=merge-duplicates' });
  if (x < 0.85) return send('PATCH', `${url}/${id}`, r() < 0.5 ? { amount: row.amount } : { user_id: row.user_id, kind: row.kind });
  return send('DELETE', `${url}/${id}`);
}

/**
 * The mixed load: CLIENTS loops until `total` writes are acknowledged. A 503
 * (the backlog over its limit while no writer drains: admission control) is
 * retried after its Retry-After, as a client would; other statuses than 202
 * are returned.
 */
function load(total: number, seed: number): { done: Promise<{ bad: number[]; refused: number }>; sent: () => number } {
  let sent = 0;
  let refused = 0;
  const bad: number[] = [];
  const clients = Array.from({ length: CLIENTS }, async (_, c) => {
    const r = rng(seed * 100 + c);
    while (sent < total) {
      sent++;
      const write = oneWrite(r);
      let res = await write();
      while (res.status === 503) {
        refused++;
        await res.body?.cancel();
        await new Promise((ok) => setTimeout(ok, 1000 * Number(res.headers.get('retry-after') ?? 1)));
        res = await write();
      }
      if (res.status !== 202) bad.push(res.status);
      await res.body?.cancel();
    }
  });
  return { done: Promise.all(clients).then(() => ({ bad, refused })), sent: () => sent };
}

async function drained(timeoutMs: number): Promise<void> {
  await eventually(async () => {
    const n = await cluster.backlog();
    if (n > 0) throw new Error(`backlog ${n}: ${JSON.stringify(await cluster.backlogByPartition())}`);
  }, timeoutMs, 500);
}

const count = async (sql: string) => Number((await cluster.pool.query<{ n: string }>(sql)).rows[0]!.n);

describe('row 30: read models after writer kills, poison rows, redeliveries and replays', () => {
  it(`verify finds 0 differing groups after a ${WRITES}-write mixed load with every kind of fault`, async () => {
    const t0 = Date.now();
    // 1. Held before COMMIT (statements and the views' fold run), then SIGKILL: rolled back, redelivered.
    const a = await cluster.startWriter('writer-a', { SLUICE_FAILPOINTS: 'before-commit' });
    await eventually(async () => {
      const { rows } = await cluster.pool.query<{ ready: boolean }>(`SELECT bool_and(state = 'ready') AND count(*) = 2 AS ready FROM sluice.views`);
      if (!rows[0]!.ready) throw new Error('views not built yet');
    }, 60_000, 200);
    const run = load(WRITES, 1);
    await eventually(() => expect(logged(a.output(), 'fail point hit')).toBe(true), 30_000);
    await eventually(() => expect(run.sent()).toBeGreaterThan(Math.min(300, WRITES / 4)), 60_000);
    a.kill('SIGKILL');
    await a.exited;
    // 2. Committed, not marked done, SIGKILL: redelivered, skipped by the dedupe records.
    const b = await cluster.startWriter('writer-b', { SLUICE_FAILPOINTS: 'after-commit' });
    await eventually(() => expect(logged(b.output(), 'fail point hit')).toBe(true), 30_000);
    b.kill('SIGKILL');
    await b.exited;
    // 3. A writer killed at a random moment of the load, then the one that drains.
    const c = await cluster.startWriter('writer-c');
    const killAt = Math.min(WRITES - 1, run.sent() + Math.max(200, Math.round(WRITES * 0.2)));
    await eventually(() => expect(run.sent()).toBeGreaterThanOrEqual(killAt), 3_600_000, 100);
    c.kill('SIGKILL');
    await c.exited;
    await cluster.startWriter('writer-d');
    const { bad, refused } = await run.done;
    expect(bad, 'every write acknowledged queued').toEqual([]);
    await drained(Math.max(120_000, WRITES * 10));
    const loadMs = Date.now() - t0;

    // 4. Dead letters: the CHECK dropped, every pending one replayed; the CHECK ones commit, the duplicates die again.
    const dead = await count(`SELECT count(*) AS n FROM sluice.dead_letters`);
    const deadCheck = await count(`SELECT count(*) AS n FROM sluice.dead_letters WHERE sqlstate = '23514'`);
    expect(dead).toBeGreaterThan(0);
    expect(deadCheck).toBeGreaterThan(0);
    await cluster.pool.query('ALTER TABLE v_ev DROP CONSTRAINT v_ev_amount_check');
    const ids = (await cluster.pool.query<{ id: string }>(`SELECT id::text FROM sluice.dead_letters ORDER BY id`)).rows.map((r) => r.id);
    let next = 0;
    const replayed: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const res = await fetch(`${gateway.url}/v1/admin/dead-letters/${id}/replay`, { method: 'POST' });
          replayed.push(res.status);
          await res.body?.cancel();
        }
      }),
    );
    expect(replayed.filter((s) => s !== 202)).toEqual([]);
    await drained(Math.max(60_000, ids.length * 20));
    const poisonCommitted = await count(`SELECT count(*) AS n FROM v_ev WHERE amount = -5000`);
    expect(poisonCommitted).toBe(deadCheck);

    // 5. Every view equals a fresh GROUP BY of its base table.
    const verified: Record<string, number> = {};
    for (const name of Object.keys(VIEWS)) {
      const r = (await (await fetch(`${gateway.url}/v1/admin/views/${name}/verify`, { method: 'POST' })).json()) as { differing: number; shards: { groups: unknown[] }[] };
      verified[name] = r.differing;
      expect({ view: name, differing: r.differing, groups: r.shards.flatMap((s) => s.groups).slice(0, 5) }).toEqual({ view: name, differing: 0, groups: [] });
    }
    const groups = await count('SELECT (SELECT count(*) FROM sluice_views.user_stats) + (SELECT count(*) FROM sluice_views.by_tag) AS n');
    const rows = await count('SELECT count(*) AS n FROM v_ev');
    console.info(`[views faults] ${JSON.stringify({ writes: WRITES, clients: CLIENTS, keys: KEYS, refused503: refused, loadMs, deadLettered: dead, deadCheck, replayed: ids.length, poisonCommittedOnReplay: poisonCommitted, rows, groups, verify: verified, totalMs: Date.now() - t0 })}`);
  }, 3_600_000);
});

/**
 * Read models end to end, real gateway and writer processes: a view file
 * read at start, created and backfilled by the writer, read over HTTP through
 * the tables' read path with read-your-writes (a committed write's token makes
 * the next view read include it), the admin listing; and after a writer
 * SIGKILL in the middle of a mixed load (redelivered jobs, a second writer
 * taking over) `verify` finds 0 differing groups; `rebuild` through the CLI,
 * and through the admin route: 202, a status to poll, 409 while one runs;
 * a changed view file rebuilt at start, the view answering 503 while it builds.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

const SQL = `
CREATE TABLE ev (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount numeric,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ev (user_id);
INSERT INTO ev (id, user_id, kind, amount) SELECT g, g % 20, 'click', g % 90 FROM generate_series(1, 5000) g;`;

const run = promisify(execFile);

describe('read models over HTTP', () => {
  let env: TestEnv;
  let dir: string;
  const procs: TsProcess[] = [];
  let base = '';
  let sluiceEnv: Record<string, string>;

  beforeAll(async () => {
    env = await createTestEnv({ sql: SQL });
    dir = mkdtempSync(join(tmpdir(), 'views-http-'));
    writeFileSync(join(dir, 'user_stats.sql'), `select user_id, count(*) as events, sum(amount) as total, min(amount) as lo, max(created_at) as last_at from ev where kind <> 'test' group by user_id`);
    writeFileSync(join(dir, 'user_kinds.sql'), `select user_id, kind, count(*) as n, avg(amount) as mean from ev group by user_id, kind`);
    const port = await freePort();
    sluiceEnv = {
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      SLUICE_QUEUE_PREFIX: env.prefix,
      SLUICE_TABLES: 'ev',
      SLUICE_VIEWS_DIR: dir,
      SLUICE_PARTITIONS: '4',
      SLUICE_PORT: String(port),
      SLUICE_HOST: '127.0.0.1',
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_COMMIT_WAIT_MS: '20000',
      NODE_ENV: 'test',
    };
    procs.push(await startTsProcess('writer/src/main.ts', { name: 'writer', env: sluiceEnv, ready: /writer started/, timeoutMs: 90_000 }));
    procs.push(await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: sluiceEnv, ready: /gateway listening/, timeoutMs: 90_000 }));
    base = `http://127.0.0.1:${port}`;
  }, 240_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await env?.cleanup();
  });

  const get = (path: string, token?: string) => fetch(`${base}${path}`, { headers: token ? { 'sluice-consistency-token': token } : {} });
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/tables/ev`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('backfills the existing rows, then serves each committed write to a read carrying its token', async () => {
    const admin = await eventually(async () => {
      const r = await (await get('/v1/admin/views')).json() as { views: { name: string; state: string }[] };
      if (!r.views.every((v) => v.state === 'ready') || r.views.length !== 2) throw new Error('not ready');
      return r;
    }, 30_000);
    expect(admin.views.map((v) => v.name)).toEqual(['user_kinds', 'user_stats']);
    const first = await get('/v1/views/user_stats/7');
    expect(first.status).toBe(200);
    const before = await first.json() as { events: number; total: number };
    expect(before.events).toBe(250);
    for (let i = 0; i < 5; i++) {
      const res = await post({ id: 100_000 + i, user_id: 7, kind: 'buy', amount: 1000 }, { 'sluice-ack': 'committed' });
      expect(res.status).toBe(201);
      const token = res.headers.get('sluice-consistency-token')!;
      const read = await get('/v1/views/user_stats/7', token);
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ user_id: 7, events: before.events + i + 1, total: before.total + 1000 * (i + 1) });
    }
    // A composite key, and a list by its first group column.
    expect(await (await get('/v1/views/user_kinds/7,buy')).json()).toMatchObject({ user_id: 7, kind: 'buy', n: 5, mean: 1000 });
    const page = await (await get('/v1/views/user_kinds?user_id=eq.7&limit=10')).json() as { rows: { kind: string }[] };
    expect(page.rows.map((r) => r.kind)).toEqual(['buy', 'click']);
    expect((await get('/v1/views/nope/1')).status).toBe(404);
    expect((await get('/v1/views/user_stats/xyz')).status).toBe(400);
  });

  it('is exact after a writer SIGKILL in the middle of a mixed load', async () => {
    const one = () => {
      const id = 1 + Math.floor(Math.random() * 6000);
      const x = Math.random();
      if (x < 0.4) return post({ id, user_id: id % 23, kind: Math.random() < 0.2 ? 'test' : 'buy', amount: Math.floor(Math.random() * 500) }, { prefer: 'resolution=merge-duplicates' });
      if (x < 0.7) return fetch(`${base}/v1/tables/ev/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: Math.floor(Math.random() * 900), user_id: id % 7 }) });
      return fetch(`${base}/v1/tables/ev/${id}`, { method: 'DELETE' });
    };
    const codes: number[] = [];
    // 20 clients, 150 writes each; the writer is killed while they run.
    const clients = Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 150; i++) codes.push((await one()).status);
    });
    await new Promise((r) => setTimeout(r, 500));
    procs[0]!.kill('SIGKILL');
    await Promise.all(clients);
    expect(codes.filter((c) => c !== 202)).toEqual([]);
    procs.push(await startTsProcess('writer/src/main.ts', { name: 'writer-2', env: sluiceEnv, ready: /writer started/, timeoutMs: 90_000 }));
    await eventually(async () => {
      const { rows } = await env.pool.query<{ n: string }>(`SELECT count(*) AS n FROM sluice.applied_jobs`);
      // Drained when no job is waiting in any partition: checked through the admin API.
      const p = await (await get('/v1/admin/partitions')).json() as { partitions: { backlog: number }[] };
      if (p.partitions.some((x) => x.backlog > 0) || Number(rows[0]!.n) === 0) throw new Error('draining');
    }, 60_000, 200);
    for (const name of ['user_stats', 'user_kinds']) {
      const r = await fetch(`${base}/v1/admin/views/${name}/verify`, { method: 'POST' });
      expect(await r.json()).toMatchObject({ view: name, differing: 0, shards: [{ shard: 'main', differing: 0, groups: [] }] });
    }
    // The CLI over the same route: exit 0 and "0 differing groups".
    const cli = await run(process.execPath, ['--import', 'tsx', 'client/src/cli/main.ts', 'views', 'verify', 'user_stats', '--url', base], { cwd: REPO_ROOT });
    expect(cli.stdout).toContain('user_stats: 0 differing groups');
    const admin = await (await get('/v1/admin/views')).json() as { views: { differing: number }[] };
    expect(admin.views.map((v) => v.differing)).toEqual([0, 0]);
  }, 120_000);

  it('rebuilds a view through the CLI and the admin route', async () => {
    const cli = await run(process.execPath, ['--import', 'tsx', 'client/src/cli/main.ts', 'views', 'rebuild', 'user_stats', '--url', base], { cwd: REPO_ROOT });
    expect(cli.stdout).toMatch(/user_stats\tmain\trebuilt: \d+ groups/);
    const r = await fetch(`${base}/v1/admin/views/user_stats/verify`, { method: 'POST' });
    expect(await r.json()).toMatchObject({ differing: 0 });
    const missing = await fetch(`${base}/v1/admin/views/nope/rebuild`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
  }, 60_000);

  it('answers a rebuild with 202 and a status to poll, and a second rebuild while it runs with 409', async () => {
    // A transaction with an id, held open: the rebuild waits for every transaction older than its start, so it runs until this ends.
    const held = await env.pool.connect();
    try {
      await held.query('BEGIN');
      await held.query('SELECT pg_current_xact_id()');
      const started = await fetch(`${base}/v1/admin/views/user_stats/rebuild`, { method: 'POST' });
      expect(started.status).toBe(202);
      expect(started.headers.get('location')).toBe('/v1/admin/views/user_stats');
      expect(await started.json()).toMatchObject({ view: 'user_stats', status: 'running', location: '/v1/admin/views/user_stats' });
      // Its first step (state `rebuilding`, the table beside the live one) runs just after the 202.
      const running = await eventually(async () => {
        const r = (await (await get('/v1/admin/views/user_stats')).json()) as { shards: { state: string }[] };
        if (r.shards[0]?.state !== 'rebuilding') throw new Error(JSON.stringify(r));
        return r;
      }, 10_000, 100);
      expect(running).toMatchObject({ view: 'user_stats', rebuild: 'running', shards: [{ shard: 'main', state: 'rebuilding', rebuild: { status: 'running', phase: 'waiting', finishedAt: null } }] });
      const second = await fetch(`${base}/v1/admin/views/user_stats/rebuild`, { method: 'POST' });
      expect(second.status).toBe(409);
      expect(second.headers.get('content-type')).toContain('application/problem+json');
      expect(await second.json()).toMatchObject({ status: 409, detail: expect.stringContaining('rebuild of view user_stats is running') });
      // The view is served from its live table meanwhile.
      expect((await get('/v1/views/user_stats/7')).status).toBe(200);
      await held.query('COMMIT');
    } finally {
      held.release();
    }
    const done = await eventually(async () => {
      const s = (await (await get('/v1/admin/views/user_stats')).json()) as { rebuild: string; shards: { rebuild: Record<string, unknown> }[] };
      if (s.rebuild === 'running') throw new Error('running');
      return s;
    }, 30_000, 200);
    expect(done).toMatchObject({ rebuild: 'done', shards: [{ state: 'ready', rebuild: { status: 'done', phase: null, error: null, ms: expect.any(Number) } }] });
    const r = await fetch(`${base}/v1/admin/views/user_stats/verify`, { method: 'POST' });
    expect(await r.json()).toMatchObject({ differing: 0 });
  }, 60_000);

  it('rebuilds a view whose file changed at start, answering 503 with Retry-After while it builds', async () => {
    for (const p of procs.splice(1)) await p.stop();
    writeFileSync(join(dir, 'user_kinds.sql'), `select user_id, kind, count(*) as n, avg(amount) as mean, max(amount) as hi from ev group by user_id, kind`);
    // A transaction with an id, held open: the build waits for every transaction older than the view, so it stays `building` until this ends.
    const held = await env.pool.connect();
    try {
      await held.query('BEGIN');
      await held.query('SELECT pg_current_xact_id()');
      procs.push(await startTsProcess('writer/src/main.ts', { name: 'writer-3', env: sluiceEnv, ready: /writer started/, timeoutMs: 90_000 }));
      procs.push(await startTsProcess('gateway/src/main.ts', { name: 'gateway-2', env: sluiceEnv, ready: /gateway listening/, timeoutMs: 90_000 }));
      const { rows } = await env.pool.query<{ state: string }>(`SELECT state FROM sluice.views WHERE name = 'user_kinds'`);
      expect(rows[0]!.state).toBe('building');
      for (const path of ['/v1/views/user_kinds/7,buy', '/v1/views/user_kinds?user_id=eq.7']) {
        const res = await get(path);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('2');
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(await res.json()).toMatchObject({ status: 503, view: 'user_kinds', state: 'building' });
      }
      // The unchanged view answers meanwhile.
      expect((await get('/v1/views/user_stats/7')).status).toBe(200);
      await held.query('COMMIT');
    } finally {
      held.release();
    }
    const group = await eventually(async () => {
      const res = await get('/v1/views/user_kinds/7,buy');
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return (await res.json()) as Record<string, unknown>;
    }, 30_000, 200);
    expect(group).toMatchObject({ user_id: 7, kind: 'buy', hi: 1000 });
    const r = await fetch(`${base}/v1/admin/views/user_kinds/verify`, { method: 'POST' });
    expect(await r.json()).toMatchObject({ differing: 0 });
  }, 240_000);
});

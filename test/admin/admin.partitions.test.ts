/**
 * `GET /v1/admin/partitions` shows who owns which partition (lease holder,
 * token, expiry, the token Postgres fences with), the live writers and the
 * backlog; pause/resume (one partition or all) stops and restarts the writers
 * taking jobs from it while writes keep being queued.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionIndexOf } from '@sluice/shared/topology/partitions.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { eventually, testConfig } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';
import { quiet } from '../writer/helpers.ts';

let t: TestGateway;
const writers: Writer[] = [];

const leaseKnobs = { SLUICE_LEASE_TTL_MS: '1000', SLUICE_LEASE_RENEW_MS: '200' };

beforeAll(async () => {
  t = await startGateway({ env: leaseKnobs });
  for (let i = 0; i < 2; i++) writers.push(await startWriter(testConfig(t.env, { SLUICE_TABLES: 'events,pairs,secrets', SLUICE_PARTITIONS: '4', ...leaseKnobs }), { log: quiet }));
});
afterAll(async () => {
  for (const w of writers) await w.stop();
  await t?.close();
});

interface View {
  partition: string;
  owner: string | null;
  token: number | null;
  leaseExpiresAt: string | null;
  fencedToken: number | null;
  paused: boolean;
  jobs: Record<string, number>;
  backlog: number;
}

const overview = async () => json(await t.request('/v1/admin/partitions'));
const post = async (path: string) => t.request(path, { method: 'POST' });
/** A pairs key routed to partition `p`. */
function keyOn(p: number): string {
  for (let i = 0; ; i++) if (partitionIndexOf('pairs', ['acme', String(i)], 4) === p) return String(i);
}
const pairs = async (seq: string) => (await t.env.pool.query('SELECT v FROM pairs WHERE tenant = $1 AND seq = $2', ['acme', Number(seq)])).rows;

describe('partition admin', () => {
  it('shows owners, tokens, lease expiry, fencing tokens, live writers and backlog', async () => {
    await eventually(() => expect(writers.map((w) => w.partitions().length)).toEqual([2, 2]), 5000);
    const body = await overview();
    const views = body.partitions as View[];
    expect(views.map((v) => v.partition)).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']);
    for (const v of views) {
      expect(v.owner).toMatch(/^.+:\d+:[0-9a-f]{6}$/);
      expect(v.token).toBeGreaterThan(0);
      expect(v.fencedToken).toBe(v.token);
      expect(Date.parse(v.leaseExpiresAt!) - Date.now()).toBeLessThanOrEqual(1500);
      expect(v).toMatchObject({ paused: false, backlog: 0, jobs: { waiting: 0, active: 0, failed: 0 } });
    }
    const live = body.writers as { id: string; partitions: string[] }[];
    expect(live).toHaveLength(2);
    expect(live.flatMap((w) => w.partitions).sort()).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']);
    expect(live.every((w) => w.partitions.length === 2)).toBe(true);
    expect(body.lease).toEqual({ ttlMs: 1000, renewMs: 200, takeoverBoundMs: 1200 });
  });

  it('pausing one partition holds its writes in the queue; the others flow; resume applies them', async () => {
    const held = keyOn(1);
    const free = keyOn(2);
    const paused = await post('/v1/admin/partitions/1/pause');
    expect(paused.status).toBe(200);
    expect((await json(paused)).partitions).toMatchObject([{ partition: 'main.1.1', paused: true }]);

    expect((await t.post('/v1/tables/pairs', { tenant: 'acme', seq: Number(held), v: 'held' })).status).toBe(202);
    expect((await t.post('/v1/tables/pairs', { tenant: 'acme', seq: Number(free), v: 'free' })).status).toBe(202);
    await eventually(async () => expect(await pairs(free)).toEqual([{ v: 'free' }]));
    const during = (await overview()).partitions as View[];
    expect(during[1]).toMatchObject({ paused: true, backlog: 1 });
    expect(await pairs(held)).toEqual([]);

    const resumed = await post('/v1/admin/partitions/1/resume');
    expect((await json(resumed)).partitions).toMatchObject([{ partition: 'main.1.1', paused: false }]);
    await eventually(async () => expect(await pairs(held)).toEqual([{ v: 'held' }]));
  });

  it('pauses and resumes every partition at once; 404 for a partition that does not exist', async () => {
    const all = await json(await post('/v1/admin/partitions/pause'));
    expect((all.partitions as View[]).map((v) => v.paused)).toEqual([true, true, true, true]);
    expect((await t.post('/v1/tables/pairs', { tenant: 'acme', seq: 900, v: 'later' })).status).toBe(202);
    await eventually(async () => expect(((await overview()).partitions as View[]).reduce((n, v) => n + v.backlog, 0)).toBe(1));
    expect(await pairs('900')).toEqual([]);
    const back = await json(await post('/v1/admin/partitions/resume'));
    expect((back.partitions as View[]).map((v) => v.paused)).toEqual([false, false, false, false]);
    await eventually(async () => expect(await pairs('900')).toEqual([{ v: 'later' }]));
    expect((await post('/v1/admin/partitions/4/pause')).status).toBe(404);
    expect((await post('/v1/admin/partitions/x/resume')).status).toBe(404);
    expect((await post('/v1/admin/partitions/stop')).status).toBe(404); // pause and resume are the only actions
    expect((await post('/v1/admin/partitions/0/stop')).status).toBe(404);
    expect(((await overview()).partitions as View[]).map((v) => v.paused)).toEqual([false, false, false, false]);
  });
});

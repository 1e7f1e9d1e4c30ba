/**
 * Dead-letter admin API against a real gateway app, writer, Postgres and
 * Redis: list (filters, keyset pages), inspect, discard; and the real flow —
 * a write the database refuses is dead-lettered (422), shows in the list, the
 * gauge and /readyz; after the cause is fixed, a replay applies it exactly
 * once however often it is called, even after Redis forgot the replay's key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { eventually } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';
import { quiet } from '../writer/helpers.ts';

const ADMIN = { authorization: 'Bearer admin-key-for-ops-0123456789abcdef0123456789' };
const WRITER = { authorization: 'Bearer data-key-everything-0123456789abcdef0123456789' };
const KEYS = [
  { key: 'admin-key-for-ops-0123456789abcdef0123456789', scopes: ['admin'] },
  { key: 'data-key-everything-0123456789abcdef0123456789', scopes: ['write:*', 'read:*'] },
];

let t: TestGateway;
let writer: Writer;

beforeAll(async () => {
  t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_COMMIT_WAIT_MS: '10000' } });
  writer = await startWriter(t.config, { log: quiet });
});
afterAll(async () => {
  await writer?.stop();
  await t?.close();
});

const get = async (path: string) => {
  const res = await t.request(path, { headers: ADMIN });
  return { status: res.status, body: await json(res) };
};
const post = (path: string, headers: Record<string, string> = {}) => t.request(path, { method: 'POST', headers: { ...ADMIN, ...headers } });

describe('dead-letter admin: list, inspect, discard', () => {
  let ids: number[];
  beforeAll(async () => {
    // Seven fixtures, oldest first: two tables, three SQLSTATEs, one a day older.
    const fixtures: [string, string, string][] = [
      ['pairs', '23505', '2 days'],
      ['events', '23514', '1 hour'],
      ['events', '23505', '50 minutes'],
      ['events', '22001', '40 minutes'],
      ['pairs', '23514', '30 minutes'],
      ['events', '23514', '20 minutes'],
      ['events', '23514', '10 minutes'],
    ];
    const { rows } = await t.env.pool.query<{ id: string }>(
      `INSERT INTO sluice.dead_letters (write_id, job_id, table_name, sqlstate, message, payload, created_at)
       SELECT 'p0.fixture.' || i || '.0', 'p0.fixture.' || i, f.t, f.s, 'fixture ' || i, jsonb_build_object('id', 'p0.fixture.' || i || '.0', 'ops', '[]'::jsonb), now() - f.age::interval
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS f(t, s, age, i) ORDER BY i RETURNING id`,
      [fixtures.map((f) => f[0]), fixtures.map((f) => f[1]), fixtures.map((f) => f[2])],
    );
    ids = rows.map((r) => Number(r.id));
  });

  it('pages newest first with limit and an opaque after cursor', async () => {
    const seen: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const { status, body } = await get(`/v1/admin/dead-letters?limit=3${cursor === null ? '' : `&after=${cursor}`}`);
      expect(status).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(3);
      seen.push(...body.items.map((i: { id: number }) => i.id));
      cursor = body.next;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const first = (await get('/v1/admin/dead-letters?limit=1')).body.items[0];
    expect(first).toMatchObject({ id: ids[6], writeId: 'p0.fixture.7.0', table: 'events', sqlstate: '23514', message: 'fixture 7', replayedAt: null, discardedAt: null });
    expect(first.payload).toBeUndefined();
  });

  it('filters by table, SQLSTATE (or its class) and time', async () => {
    const idsOf = async (q: string) => (await get(`/v1/admin/dead-letters?${q}`)).body.items.map((i: { id: number }) => i.id);
    expect(await idsOf('table=pairs')).toEqual([ids[4], ids[0]]);
    expect(await idsOf('sqlstate=23514&table=events')).toEqual([ids[6], ids[5], ids[1]]);
    expect(await idsOf('sqlstate=22')).toEqual([ids[3]]);
    const dayAgo = new Date(Date.now() - 24 * 3600_000).toISOString();
    const halfHourAgo = new Date(Date.now() - 35 * 60_000).toISOString();
    expect(await idsOf(`until=${dayAgo}`)).toEqual([ids[0]]);
    expect(await idsOf(`since=${dayAgo}&until=${halfHourAgo}`)).toEqual([ids[3], ids[2], ids[1]]);
    for (const bad of ['limit=0', 'limit=501', 'after=x', 'since=yesterday', 'sqlstate=2351', 'state=gone']) {
      const res = await get(`/v1/admin/dead-letters?${bad}`);
      expect(res.status, bad).toBe(400);
    }
  });

  it('shows one dead letter with its payload; 404 for an unknown id', async () => {
    const { status, body } = await get(`/v1/admin/dead-letters/${ids[2]}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: ids[2], sqlstate: '23505', payload: { id: 'p0.fixture.3.0', ops: [] } });
    expect((await get('/v1/admin/dead-letters/999999')).status).toBe(404);
    expect((await get('/v1/admin/dead-letters/abc')).status).toBe(404);
  });

  it('discards (twice is fine): gone from the default list, kept as discarded, not replayable', async () => {
    const del = () => t.request(`/v1/admin/dead-letters/${ids[0]}`, { method: 'DELETE', headers: ADMIN });
    expect((await del()).status).toBe(204);
    expect((await del()).status).toBe(204);
    expect((await get('/v1/admin/dead-letters?table=pairs')).body.items.map((i: { id: number }) => i.id)).toEqual([ids[4]]);
    const discarded = (await get('/v1/admin/dead-letters?state=discarded')).body.items;
    expect(discarded).toHaveLength(1);
    expect(discarded[0]).toMatchObject({ id: ids[0], discardedAt: expect.any(String) });
    expect((await post(`/v1/admin/dead-letters/${ids[0]}/replay`)).status).toBe(409);
    expect((await t.request('/v1/admin/dead-letters/999999', { method: 'DELETE', headers: ADMIN })).status).toBe(404);
  });
});

describe('dead-letter admin: the real flow', () => {
  it('a refused write is dead-lettered, counted, replayed after the fix, and applied once however often replay is called', async () => {
    await t.env.pool.query('ALTER TABLE events ADD CONSTRAINT amount_not_negative CHECK (amount >= 0)');
    const refused = await t.post('/v1/tables/events', { kind: 'refund', amount: -5 }, { ...WRITER, 'sluice-ack': 'committed' });
    expect(refused.status).toBe(422);
    const { writeId, sqlstate } = await json(refused);
    expect(sqlstate).toBe('23514');

    const listed = (await get(`/v1/admin/dead-letters?table=events&sqlstate=23514&limit=1`)).body.items[0];
    expect(listed).toMatchObject({ writeId, table: 'events', sqlstate: '23514', constraint: 'amount_not_negative' });
    const id = listed.id as number;
    expect((await get(`/v1/admin/dead-letters/${id}`)).body.payload).toMatchObject({ id: writeId, ops: [{ t: 'events', op: 'insert', row: { kind: 'refund', amount: '-5' } }] });

    // The gauge and /readyz count pending dead letters (fixtures of the other block included).
    const pending = (await get('/v1/admin/dead-letters?limit=500')).body.items.length;
    await eventually(async () => expect(await (await t.request('/metrics', { headers: { authorization: `Bearer ${'admin-key-for-ops-0123456789abcdef0123456789'}` } })).text()).toMatch(new RegExp(`^sluice_dead_letters ${pending}$`, 'm')), 3000);
    await eventually(async () => expect((await json(await t.request('/readyz', { headers: { authorization: `Bearer ${'admin-key-for-ops-0123456789abcdef0123456789'}` } }))).details).toMatchObject({ deadLetters: pending }), 3000);

    // Fix the cause, then replay: twice in a row, the second answers with the first replay's write.
    await t.env.pool.query('ALTER TABLE events DROP CONSTRAINT amount_not_negative');
    const first = await post(`/v1/admin/dead-letters/${id}/replay`);
    expect(first.status).toBe(202);
    const firstBody = await json(first);
    expect(firstBody.writeId).not.toBe(writeId);
    expect(firstBody.deadLetter).toMatchObject({ id, replayWriteId: firstBody.writeId, replayedAt: expect.any(String) });
    const second = await post(`/v1/admin/dead-letters/${id}/replay`);
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(second)).writeId).toBe(firstBody.writeId);

    const refunds = async () => (await t.env.pool.query(`SELECT count(*)::int AS n FROM events WHERE kind = 'refund'`)).rows[0].n as number;
    await eventually(async () => expect(await refunds()).toBe(1), 10_000);
    // The replay is the admin's write (its writeId carries the admin key's owner tag): the admin reads its status.
    const status = await t.request(`/v1/writes/${firstBody.writeId}`, { headers: ADMIN });
    expect((await json(status)).status).toBe('committed');
    expect((await t.request(`/v1/writes/${firstBody.writeId}`, { headers: WRITER })).status).toBe(404);
    // The original write stays dead; the replay is its own write.
    expect((await json(await t.request(`/v1/writes/${writeId}`, { headers: WRITER }))).status).toBe('dead');

    // Redis forgets the replay's Idempotency-Key: Postgres (written with the data) still knows it.
    const forgotten = await t.env.redis.del(`${t.env.prefix}:idem:sluice:replay:replay:${id}`);
    expect(forgotten).toBe(1);
    const third = await post(`/v1/admin/dead-letters/${id}/replay`, { 'sluice-ack': 'committed' });
    expect(third.status).toBe(200);
    expect(await json(third)).toMatchObject({ writeId: firstBody.writeId, status: 'committed' });
    expect(await refunds()).toBe(1);
    expect((await get(`/v1/admin/dead-letters?state=replayed`)).body.items.map((i: { id: number }) => i.id)).toEqual([id]);
    await eventually(async () => expect(await (await t.request('/metrics', { headers: { authorization: `Bearer ${'admin-key-for-ops-0123456789abcdef0123456789'}` } })).text()).toMatch(new RegExp(`^sluice_dead_letters ${pending - 1}$`, 'm')), 3000);
  });

  it('replays with Sluice-Ack: committed and answers 422 when the replay is refused again', async () => {
    await t.env.pool.query('ALTER TABLE events ADD CONSTRAINT kind_not_bad CHECK (kind <> $$bad$$)');
    const refused = await t.post('/v1/tables/events', { kind: 'bad', amount: 1 }, { ...WRITER, 'sluice-ack': 'committed' });
    expect(refused.status).toBe(422);
    const { writeId } = await json(refused);
    const id = ((await get('/v1/admin/dead-letters?limit=500')).body.items as { id: number; writeId: string }[]).find((i) => i.writeId === writeId)!.id;

    const again = await post(`/v1/admin/dead-letters/${id}/replay`, { 'sluice-ack': 'committed' });
    expect(again.status).toBe(422);
    const replayWriteId = (await json(again)).writeId;
    expect(replayWriteId).not.toBe(writeId);
    // The replay was dead-lettered as a write of its own, and the original points to it.
    expect((await get(`/v1/admin/dead-letters/${id}`)).body).toMatchObject({ replayWriteId });
    const chain = ((await get('/v1/admin/dead-letters?limit=500')).body.items as { writeId: string }[]).map((i) => i.writeId);
    expect(chain).toContain(replayWriteId);
    await t.env.pool.query('ALTER TABLE events DROP CONSTRAINT kind_not_bad');
  });
});

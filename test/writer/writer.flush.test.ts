/**
 * The flush transaction against a real Postgres: one transaction per batch,
 * statement planning across tables and ops, per-op outcomes, generated keys,
 * exactly-once on redelivery, Idempotency-Keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { del, flushContext, ins, job, op, rows, SCHEMA, upd, ups } from './helpers.ts';

let env: TestEnv;
let ctx: FlushContext;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ctx = await flushContext(env);
});
afterAll(async () => env?.cleanup());

const ack = { ack: 'node-a' };

describe('flushBatch', () => {
  it('commits a mixed batch over several tables in ONE transaction with the right final state', async () => {
    await env.pool.query(`INSERT INTO users (id, name) VALUES (100, 'old'), (101, 'doomed')`);
    const jobs = [
      job([
        ins('users', { id: '1', name: 'ann' }),
        ins('users', { id: '2', name: 'bob' }, ack),
        { ops: [op('members', 'upsert', { row: { org: 'o', user: 'ann', role: 'owner' } }), op('members', 'upsert', { row: { org: 'o', user: 'bob', role: 'dev' } })] },
      ]),
      job([
        upd('users', ['1'], { email: 'ann@x' }, ack),
        ups('users', { id: '100', name: 'renamed' }),
        del('users', ['101'], ack),
        del('users', ['999'], ack), // no such row: affects 0
        upd('members', ['o', 'bob'], { role: 'lead' }),
        ups('counters', { name: 'hits', value: '1' }),
      ]),
      job([ins('events', { kind: 'signup', payload: '{"plan":"pro"}' }), ups('counters', { name: 'hits', value: '2' }), del('users', ['2'])]),
    ];
    const res = await flushBatch(ctx, jobs);

    expect(await rows(env, 'SELECT id, name, email FROM users ORDER BY id')).toEqual([
      { id: '1', name: 'ann', email: 'ann@x' },
      { id: '100', name: 'renamed', email: null },
    ]);
    expect(await rows(env, 'SELECT org, "user", role FROM members ORDER BY "user"')).toEqual([
      { org: 'o', user: 'ann', role: 'owner' },
      { org: 'o', user: 'bob', role: 'lead' },
    ]);
    expect(await rows(env, 'SELECT value FROM counters')).toEqual([{ value: '2' }]);
    expect(await rows(env, 'SELECT kind, payload FROM events')).toEqual([{ kind: 'signup', payload: { plan: 'pro' } }]);

    // One transaction: every row written by the batch, and its dedupe records, carry one xmin.
    const xmins = await rows<{ x: string }>(env, `
      SELECT DISTINCT x FROM (
        SELECT xmin::text AS x FROM users UNION ALL SELECT xmin::text FROM members
        UNION ALL SELECT xmin::text FROM counters UNION ALL SELECT xmin::text FROM events
        UNION ALL SELECT xmin::text FROM sluice.applied_jobs WHERE job_id = ANY($1)) s`, [jobs.map((j) => j.id)]);
    expect(xmins).toHaveLength(1);

    expect(res.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(res.stats).toMatchObject({ jobs: 3, skippedJobs: 0, requests: 12, duplicates: 0, dead: [], bisected: false });
    const byId = new Map(res.acks.map((a) => [a.outcome.id, a]));
    expect(res.acks.every((a) => a.node === 'node-a')).toBe(true);
    expect(byId.get(jobs[0]!.data.reqs[1]!.id)?.outcome).toMatchObject({ s: 'committed', n: [1], lsn: res.lsn });
    expect(byId.get(jobs[1]!.data.reqs[0]!.id)?.outcome).toMatchObject({ s: 'committed', n: [1] });
    expect(byId.get(jobs[1]!.data.reqs[2]!.id)?.outcome).toMatchObject({ s: 'committed', n: [1] });
    expect(byId.get(jobs[1]!.data.reqs[3]!.id)?.outcome).toMatchObject({ s: 'committed', n: [0] });
    expect(res.acks).toHaveLength(4); // only requests that asked for an ack
  });

  it('applies two upserts of one key in one batch without SQLSTATE 21000; the later write wins (RELIABILITY #12)', async () => {
    const res = await flushBatch(ctx, [
      job([ups('counters', { name: 'k12', value: '1' }), ups('counters', { name: 'other', value: '7' })]),
      job([ups('counters', { name: 'k12', value: '2' })]),
      job([{ ops: [op('counters', 'upsert', { row: { name: 'k12', value: '3' } }), op('counters', 'upsert', { row: { name: 'k12', value: '4' } })] }]),
    ]);
    expect(res.stats.dead).toEqual([]);
    expect(res.stats.bisected).toBe(false);
    expect(await rows(env, `SELECT name, value FROM counters WHERE name IN ('k12', 'other') ORDER BY name`)).toEqual([
      { name: 'k12', value: '4' },
      { name: 'other', value: '7' },
    ]);
  });

  it('applies a redelivered job once (same job id flushed twice, and twice in one batch)', async () => {
    const a = job([ins('events', { kind: 'redelivered-a' }, ack)]);
    const first = await flushBatch(ctx, [a]);
    expect(first.stats.skippedJobs).toBe(0);

    const b = job([ins('events', { kind: 'redelivered-b' })]);
    const again = await flushBatch(ctx, [a, b, b]);
    expect(again.stats).toMatchObject({ jobs: 3, skippedJobs: 2, requests: 1 });
    // The waiting gateway hears about the redelivered request again (its first ack may have been lost).
    expect(again.acks.map((x) => x.outcome)).toEqual([{ id: a.data.reqs[0]!.id, s: 'committed', n: [], lsn: again.lsn, at: again.at }]);

    expect(await rows(env, `SELECT kind, count(*)::int AS n FROM events WHERE kind LIKE 'redelivered-%' GROUP BY kind ORDER BY kind`)).toEqual([
      { kind: 'redelivered-a', n: 1 },
      { kind: 'redelivered-b', n: 1 },
    ]);
  });

  it('treats a second request with the same Idempotency-Key as a duplicate, in one batch and across batches', async () => {
    const idem = { scope: 'key-1', key: 'abc', hash: 'h1' };
    const j = job([ins('events', { kind: 'charge' }, { idem, ...ack }), ins('events', { kind: 'charge' }, { idem, ...ack })]);
    const res = await flushBatch(ctx, [j]);
    const [first, second] = j.data.reqs;
    expect(res.acks.map((x) => x.outcome)).toEqual([
      { id: first!.id, s: 'committed', n: [1], lsn: res.lsn, at: res.at },
      { id: second!.id, s: 'duplicate', of: first!.id, lsn: res.lsn, at: res.at },
    ]);
    expect(res.stats.duplicates).toBe(1);

    const retry = job([ins('events', { kind: 'charge' }, { idem, ...ack })]);
    const res2 = await flushBatch(ctx, [retry]);
    expect(res2.acks[0]!.outcome).toMatchObject({ s: 'duplicate', of: first!.id });
    expect(await rows(env, `SELECT count(*)::int AS n FROM events WHERE kind = 'charge'`)).toEqual([{ n: 1 }]);
  });

  it('dead-letters a reused Idempotency-Key with another body (422 at the gateway)', async () => {
    const first = job([ins('events', { kind: 'pay' }, { idem: { scope: 'key-1', key: 'mismatch', hash: 'h1' } })]);
    await flushBatch(ctx, [first]);
    const other = job([ins('events', { kind: 'pay-more' }, { idem: { scope: 'key-1', key: 'mismatch', hash: 'h2' }, ...ack })]);
    const res = await flushBatch(ctx, [other]);
    expect(res.acks[0]!.outcome).toMatchObject({ s: 'dead', sqlstate: '23505', constraint: 'idempotency_keys_pkey' });
    expect(await rows(env, `SELECT count(*)::int AS n FROM events WHERE kind = 'pay-more'`)).toEqual([{ n: 0 }]);
    expect(await rows(env, 'SELECT sqlstate FROM sluice.dead_letters WHERE write_id = $1', [other.data.reqs[0]!.id])).toEqual([{ sqlstate: '23505' }]);
  });

  it('returns generated keys in insert order, per op', async () => {
    const reqs = Array.from({ length: 300 }, (_, i) => ins('events', { kind: `gen-${i}` }, { ret: true, ...ack }));
    reqs.push({ ops: [op('events', 'insert', { row: { kind: 'gen-pair-0' } }), op('events', 'insert', { row: { kind: 'gen-pair-1' } })], ret: true, ...ack });
    const j = job(reqs);
    const res = await flushBatch(ctx, [j]);
    const stored = new Map((await rows<{ id: string; kind: string }>(env, `SELECT id, kind FROM events WHERE kind LIKE 'gen-%'`)).map((r) => [r.kind, r.id]));
    const keys = res.acks.map((a) => (a.outcome.s === 'committed' ? a.outcome.keys : undefined));
    for (let i = 0; i < 300; i++) expect(keys[i]).toEqual([{ id: stored.get(`gen-${i}`) }]);
    expect(keys[300]).toEqual([{ id: stored.get('gen-pair-0') }, { id: stored.get('gen-pair-1') }]);
    const ids = keys.slice(0, 300).map((k) => BigInt(k![0]!['id'] as string));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });

  it('reports upsert DO NOTHING counts exactly (0 for a row that already existed)', async () => {
    await env.pool.query(`INSERT INTO members VALUES ('dn', 'x', 'r')`);
    // Only key columns → ON CONFLICT DO NOTHING.
    await env.pool.query(`ALTER TABLE members ALTER COLUMN role SET DEFAULT 'member'`);
    const ctx2 = await flushContext(env);
    const j = job([ups('members', { org: 'dn', user: 'x' }, { ret: true, ...ack }), ups('members', { org: 'dn', user: 'y' }, { ret: true, ...ack })]);
    const res = await flushBatch(ctx2, [j]);
    expect(res.acks.map((a) => a.outcome)).toMatchObject([
      { s: 'committed', n: [0], keys: [null] },
      { s: 'committed', n: [1], keys: [{ org: 'dn', user: 'y' }] },
    ]);
  });

  it('returns the rows committed upserts, updates and deletes left, for the cache; inserts, poison and no-ops leave none', async () => {
    const ctxRows = await flushContext(env, [], true);
    await env.pool.query(`INSERT INTO users (id, name) VALUES (9100, 'old'), (9101, 'gone')`);
    const j = job([
      ins('users', { id: '9102', name: 'new' }),
      ups('users', { id: '9100', name: 'up1' }),
      upd('users', ['9100'], { name: 'up2' }),
      upd('users', ['9199'], { name: 'nobody' }), // matches nothing: no row
      del('users', ['9101']),
      del('users', ['9198']), // matches nothing: no row
      ins('users', { id: '9103', name: 'bad', score: '-1' }), // poison: dead-lettered, no row
      ins('events', { kind: 'gen' }), // generated key
    ]);
    const res = await flushBatch(ctxRows, [j]);
    expect(res.stats.dead).toHaveLength(1);
    const byKey = new Map(res.written.map((w) => [`${w.table}/${w.key.join(',')}`, w.row === null ? null : JSON.parse(w.row as string)]));
    // A plain insert makes a new key: the writer fences it instead (keysWritten), no row is returned.
    expect(byKey.has('users/9102')).toBe(false);
    // Both writes of 9100 are listed in order; the later one (the update) is the row after the commit.
    expect(res.written.filter((w) => w.key[0] === '9100').map((w) => JSON.parse(w.row as string).name)).toEqual(['up1', 'up2']);
    expect(byKey.get('users/9101')).toBeNull(); // deleted: a tombstone
    expect(byKey.has('users/9199')).toBe(false);
    expect(byKey.has('users/9198')).toBe(false);
    expect(byKey.has('users/9103')).toBe(false);
    expect(res.written.some((w) => w.table === 'events')).toBe(false);
    // Without returnRows the statements return no rows for the cache.
    const plain = await flushBatch(ctx, [job([ups('users', { id: '9104', name: 'plain' })])]);
    expect(plain.written).toEqual([]);
  });
});

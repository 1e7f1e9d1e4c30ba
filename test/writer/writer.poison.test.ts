/**
 * Poison isolation (RELIABILITY #11): a request the database refuses is
 * found by savepoint bisection and dead-lettered with its SQLSTATE, message
 * and payload; everything else in the batch commits in the same transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { flushContext, ins, job, op, rows, SCHEMA, ups, type Req } from './helpers.ts';

let env: TestEnv;
let ctx: FlushContext;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ctx = await flushContext(env);
});
afterAll(async () => env?.cleanup());

interface DeadRow {
  write_id: string;
  job_id: string;
  table_name: string;
  sqlstate: string;
  message: string;
  constraint_name: string | null;
  column_name: string | null;
  payload: unknown;
  attempts: number;
}

/** 999 good single-row inserts into users (ids base..base+999) with one bad request at `at`. */
function batchWithOneBad(base: number, bad: Req, at = 500): Req[] {
  const reqs: Req[] = [];
  for (let i = 0; i < 1000; i++) reqs.push(i === at ? bad : ins('users', { id: String(base + i), name: `u${base + i}`, score: '1' }, { ack: 'n1' }));
  return reqs;
}

async function deadLetterOf(writeId: string): Promise<DeadRow | undefined> {
  return (await rows<DeadRow>(env, 'SELECT * FROM sluice.dead_letters WHERE write_id = $1', [writeId]))[0];
}

describe('poison isolation', () => {
  it('commits 999 good requests and dead-letters a CHECK violation (23514) with constraint and payload', async () => {
    const bad = ins('users', { id: '1500', name: 'negative', score: '-1' }, { ack: 'n1' });
    const j = job(batchWithOneBad(1000, bad));
    const res = await flushBatch(ctx, [j]);
    const badId = j.data.reqs[500]!.id;

    expect(await rows(env, 'SELECT count(*)::int AS n FROM users WHERE id BETWEEN 1000 AND 1999')).toEqual([{ n: 999 }]);
    const dl = await deadLetterOf(badId);
    expect(dl).toMatchObject({ job_id: j.id, table_name: 'users', sqlstate: '23514', constraint_name: 'users_score_check', attempts: 1 });
    expect(dl!.message).toMatch(/violates check constraint/);
    expect(dl!.payload).toEqual(JSON.parse(JSON.stringify(j.data.reqs[500])));

    expect(res.stats.bisected).toBe(true);
    expect(res.stats.dead).toEqual([{ table: 'users', sqlstate: '23514' }]);
    const outcomes = new Map(res.acks.map((a) => [a.outcome.id, a.outcome]));
    expect(outcomes.get(badId)).toMatchObject({ s: 'dead', sqlstate: '23514', constraint: 'users_score_check' });
    expect([...outcomes.values()].filter((o) => o.s === 'committed')).toHaveLength(999);
    // The dedupe record committed with the rest: a redelivery applies nothing.
    expect((await flushBatch(ctx, [j])).stats.skippedJobs).toBe(1);
  });

  it('dead-letters an over-long varchar (22001) instead of truncating it', async () => {
    const j = job(batchWithOneBad(3000, ins('users', { id: '3500', name: 'x'.repeat(21) })));
    await flushBatch(ctx, [j]);
    expect(await rows(env, 'SELECT count(*)::int AS n FROM users WHERE id BETWEEN 3000 AND 3999')).toEqual([{ n: 999 }]);
    expect(await deadLetterOf(j.data.reqs[500]!.id)).toMatchObject({ sqlstate: '22001', table_name: 'users' });
  });

  it('dead-letters a NUL byte sent straight to the writer (22021), storing the payload without the NUL', async () => {
    const j = job(batchWithOneBad(5000, ins('users', { id: '5500', name: 'a\u0000b' }), 0));
    await flushBatch(ctx, [j]);
    expect(await rows(env, 'SELECT count(*)::int AS n FROM users WHERE id BETWEEN 5000 AND 5999')).toEqual([{ n: 999 }]);
    const dl = await deadLetterOf(j.data.reqs[0]!.id);
    expect(dl).toMatchObject({ sqlstate: '22021' });
    expect((dl!.payload as { ops: { row: { name: string } }[] }).ops[0]!.row.name).toBe('a\\u0000b');
  });

  it('keeps a request atomic: one bad op dead-letters all of its ops', async () => {
    const j = job([
      { ops: [op('users', 'insert', { row: { id: '7000', name: 'ok-part' } }), op('users', 'insert', { row: { id: '7001', name: 'bad', score: '-5' } })] },
      ins('users', { id: '7002', name: 'neighbour' }),
    ]);
    await flushBatch(ctx, [j]);
    expect(await rows(env, 'SELECT id FROM users WHERE id BETWEEN 7000 AND 7002 ORDER BY id')).toEqual([{ id: '7002' }]);
    expect(await deadLetterOf(j.data.reqs[0]!.id)).toMatchObject({ sqlstate: '23514' });
  });

  it('keeps per-key order across the bisection (the later write to a key still wins)', async () => {
    const j = job([
      ups('counters', { name: 'ordered', value: '1' }),
      ins('users', { id: '8000', name: 'bad', score: '-1' }),
      ups('counters', { name: 'ordered', value: '2' }),
      ins('users', { id: '8001', name: 'dup-a' }),
      ins('users', { id: '8001', name: 'dup-b' }), // 23505 against the previous request: the second is guilty
      ups('counters', { name: 'ordered', value: '3' }),
    ]);
    const res = await flushBatch(ctx, [j]);
    expect(await rows(env, `SELECT value FROM counters WHERE name = 'ordered'`)).toEqual([{ value: '3' }]);
    expect(await rows(env, 'SELECT name FROM users WHERE id = 8001')).toEqual([{ name: 'dup-a' }]);
    expect(res.stats.dead.map((d) => d.sqlstate).sort()).toEqual(['23505', '23514']);
    expect(await deadLetterOf(j.data.reqs[4]!.id)).toMatchObject({ sqlstate: '23505', constraint_name: 'users_pkey' });
  });

  it('dead-letters requests for a table or column this writer does not serve (42P01 / 42703), without SQL', async () => {
    const j = job([ins('nope', { id: '1' }), ins('users', { id: '9000', name: 'n', bogus: 'x' }), ins('users', { id: '9001', name: 'fine' })]);
    const res = await flushBatch(ctx, [j]);
    expect(res.stats.bisected).toBe(false);
    expect(await deadLetterOf(j.data.reqs[0]!.id)).toMatchObject({ sqlstate: '42P01' });
    expect(await deadLetterOf(j.data.reqs[1]!.id)).toMatchObject({ sqlstate: '42703', column_name: 'bogus' });
    expect(await rows(env, 'SELECT id FROM users WHERE id IN (9000, 9001)')).toEqual([{ id: '9001' }]);
  });
});

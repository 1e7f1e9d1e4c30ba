/**
 * Plain inserts by COPY (writer/src/flush/copy.ts, SLUICE_COPY_MIN_ROWS):
 * values arrive exactly as the unnest form stores them (escapes, NULL, the
 * literal text `\N`, defaults), and a bad row is still a poison error that
 * bisection isolates, with the same SQLSTATE, inside the batch transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyable, copyData, copyRows, copyText } from '@sluice/writer/flush/copy.ts';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { flushContext, ins, job, rows, SCHEMA, type Req } from './helpers.ts';

let env: TestEnv;
let copy: FlushContext;
let unnest: FlushContext;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  unnest = await flushContext(env);
  copy = { ...unnest, cache: new StatementCache({ copyMinRows: 1 }) };
});
afterAll(async () => env?.cleanup());

const TRICKY = ['tab\there', 'line\nbreak', 'cr\rlf', 'back\\slash', '\\N', '\\', 'ünïcødé 🚀', '', ' lead and trail '];

describe('COPY for plain inserts', () => {
  it('encodes COPY text format: escapes, \\N for NULL, one line per row', () => {
    const users = [{ name: 'id' }, { name: 'name' }] as never;
    expect(copyData(users, [{ t: 'users', op: 'insert', row: { id: '1', name: 'a\tb\\c\nd\re' } }, { t: 'users', op: 'insert', row: { id: '2', name: null } }])).toBe('1\ta\\tb\\\\c\\nd\\re\n2\t\\N\n');
    expect(copyable(0, users, 100)).toBe(false);
    expect(copyable(16, users, 15)).toBe(false);
    expect(copyable(16, users, 16)).toBe(true);
    expect(copyable(1, [], 5)).toBe(false);
    expect(copyable(1, [{ name: 'id', generatedAlways: true }] as never, 5)).toBe(false);
  });

  it('stores values verbatim, like the unnest form, with defaults for columns not given', async () => {
    const reqs = (base: number): Req[] => TRICKY.map((s, i) => ins('users', { id: String(base + i), name: s.slice(0, 20), email: i % 2 ? null : `${s}@${base}` }, { ack: 'n1' }));
    await flushBatch(copy, [job(reqs(100))]);
    await flushBatch(unnest, [job(reqs(200))]);
    const viaCopy = await rows(env, `SELECT id - 100 AS i, name, split_part(email, '@', 1) AS email, score FROM users WHERE id BETWEEN 100 AND 199 ORDER BY id`);
    const viaUnnest = await rows(env, `SELECT id - 200 AS i, name, split_part(email, '@', 1) AS email, score FROM users WHERE id BETWEEN 200 AND 299 ORDER BY id`);
    expect(viaCopy).toHaveLength(TRICKY.length);
    expect(viaCopy).toEqual(viaUnnest);
    expect(viaCopy.map((r) => r['name'])).toEqual(TRICKY.map((s) => s.slice(0, 20)));

    await flushBatch(copy, [job([ins('events', { kind: 'a' }), ins('events', { kind: 'b', payload: '{"x":"\\t"}' })])]);
    expect(await rows(env, `SELECT kind, payload FROM events WHERE kind IN ('a', 'b') ORDER BY kind`)).toEqual([
      { kind: 'a', payload: {} },
      { kind: 'b', payload: { x: '\t' } },
    ]);
  });

  it('runs inside the caller transaction: a rollback leaves nothing', async () => {
    const c = await env.pool.connect();
    try {
      await c.query('BEGIN');
      const users = ['id', 'name'].map((n) => unnest.catalog.get('users')!.byName.get(n)!);
      const n = await copyRows(c, copyText(unnest.catalog.get('users')!.qualified, users), users, [{ t: 'users', op: 'insert', row: { id: '900', name: 'gone' } }]);
      expect(n).toBe(1);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    expect(await rows(env, 'SELECT id FROM users WHERE id = 900')).toEqual([]);
  });

  for (const [what, bad, sqlstate] of [
    ['an over-long varchar (22001), not truncated', { id: '1500', name: 'x'.repeat(21) }, '22001'],
    ['a CHECK violation (23514)', { id: '1500', name: 'neg', score: '-1' }, '23514'],
    ['a duplicate key (23505)', { id: '1001', name: 'twice' }, '23505'],
    ['a NUL byte (22021)', { id: '1500', name: 'a\u0000b' }, '22021'],
    ['a bad integer (22P02)', { id: '1500', name: 'n', score: 'lots' }, '22P02'],
  ] as const) {
    it(`isolates ${what} among 999 good rows, the rest committed once`, async () => {
      await env.pool.query('DELETE FROM users WHERE id BETWEEN 1000 AND 1999');
      const reqs: Req[] = [];
      for (let i = 0; i < 1000; i++) reqs.push(i === 500 ? ins('users', bad, { ack: 'n1' }) : ins('users', { id: String(1000 + i), name: `u${i}`, score: '1' }, { ack: 'n1' }));
      const j = job(reqs);
      const res = await flushBatch(copy, [j]);
      expect(res.stats.bisected).toBe(true);
      expect(res.stats.dead).toEqual([{ table: 'users', sqlstate }]);
      expect(await rows(env, 'SELECT count(*)::int AS n FROM users WHERE id BETWEEN 1000 AND 1999')).toEqual([{ n: 999 }]);
      const dead = await rows(env, 'SELECT sqlstate FROM sluice.dead_letters WHERE write_id = $1', [j.data.reqs[500]!.id]);
      expect(dead).toEqual([{ sqlstate }]);
      expect(res.acks.filter((a) => a.outcome.s === 'committed')).toHaveLength(999);
      // Redelivered: the dedupe record committed with the rows.
      expect((await flushBatch(copy, [j])).stats.skippedJobs).toBe(1);
    });
  }
});

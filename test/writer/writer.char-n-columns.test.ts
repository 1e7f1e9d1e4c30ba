/**
 * Regression: `char(n)` (bpchar) columns. The flush casts each text value to
 * the column's type without its modifier, and `format_type(bpchar, NULL)` is
 * `character`, which SQL reads as char(1): every value was cut to its first
 * character (`'abcde'` stored as `'a    '`) on insert, update, upsert and in
 * key matches, and a read by key looked for `'a'`. The cast is now to
 * `bpchar` (unbounded): the column's own assignment pads or refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { rowStatements } from '@sluice/shared/read/rows.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { del, ins, job, quiet, rows, upd, ups } from './helpers.ts';

const SQL = `CREATE TABLE codes (code char(5) PRIMARY KEY, label char(8), note text);`;

let env: TestEnv;
let unnest: FlushContext;
let copy: FlushContext;

beforeAll(async () => {
  env = await createTestEnv({ sql: SQL });
  unnest = { pool: env.pool, catalog: await introspectCatalog(env.pool, ['codes']), cache: new StatementCache(), failpoints: new FailPoints([]), log: quiet, inTransaction: [] };
  copy = { ...unnest, cache: new StatementCache({ copyMinRows: 1 }) };
});
afterAll(async () => env?.cleanup());

describe('char(n) columns', () => {
  it('keeps whole values through insert (unnest and COPY), update, upsert and delete by key', async () => {
    await flushBatch(unnest, [job([ins('codes', { code: 'abcde', label: 'first', note: 'x' })])]);
    await flushBatch(copy, [job([ins('codes', { code: 'fgh', label: 'second', note: 'y' })])]);
    await flushBatch(unnest, [job([upd('codes', ['abcde'], { label: 'updated' }), ups('codes', { code: 'fgh', label: 'upserted', note: 'z' }), ins('codes', { code: 'zz', label: 'gone' })])]);
    await flushBatch(unnest, [job([del('codes', ['zz'])])]);
    expect(await rows(env, 'SELECT code, label, note FROM codes ORDER BY code')).toEqual([
      { code: 'abcde', label: 'updated ', note: 'x' },
      { code: 'fgh  ', label: 'upserted', note: 'z' },
    ]);
  });

  it('reads a row by its char(n) key', async () => {
    const byKey = rowStatements(unnest.catalog.get('codes')!).byKey;
    const { rows: found } = await env.pool.query<{ j: string }>({ text: byKey.text, values: ['abcde'] });
    expect(found.map((r) => (JSON.parse(r.j) as { code: string }).code)).toEqual(['abcde']);
    expect((await env.pool.query({ text: byKey.text, values: ['a'] })).rows).toEqual([]);
  });
});

/**
 * Read models over every column type the fold passes as a typed array
 * (shared/src/views/sql.ts typedArray): bool, char(n), varchar(n), uuid in
 * mixed-case spellings, date, time, timestamp, double precision, and NULLs,
 * as group keys and in min/max/count. After random inserts, updates across
 * groups and deletes, every view equals a fresh `SELECT … GROUP BY`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import type { MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { expectExact, maintainedViews, rng } from './support.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { del, ins, job, upd, type Req } from '../writer/helpers.ts';

const SCHEMA = `
CREATE TABLE things (
  id int PRIMARY KEY,
  flag boolean NOT NULL,
  code char(4),
  ref uuid,
  day date,
  at_time time,
  score double precision,
  name varchar(20),
  ts timestamp DEFAULT '2026-01-01 00:00:00'
);`;

const VIEWS: Record<string, string> = {
  by_flag: 'select flag, count(*) as n, min(day) as first_day, max(at_time) as last_time, min(score) as lo, max(name) as top_name, max(ts) as last_ts from things group by flag',
  by_code: 'select code, count(*) as n, count(ref) as refs, max(score) as hi from things group by code',
  by_ref: 'select ref, count(*) as n, min(name) as first_name from things group by ref',
};

const REFS = ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22', null];
const CODES = ['ab', 'abcd', 'xyz ', null];

let env: TestEnv;
let ctx: FlushContext;
let views: MaintainedView[];

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ({ ctx, views } = await maintainedViews(env.pool, ['things'], VIEWS, true));
});
afterAll(async () => env?.cleanup());

function row(r: () => number, id: number): Record<string, string | null> {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const out: Record<string, string | null> = {
    id: String(id),
    flag: pick(['true', 'false', 't', 'f']),
    code: pick(CODES),
    ref: pick(REFS),
    day: r() < 0.1 ? null : `2026-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`,
    at_time: r() < 0.1 ? null : `${String(Math.floor(r() * 24)).padStart(2, '0')}:${String(Math.floor(r() * 60)).padStart(2, '0')}:07.25`,
    score: r() < 0.1 ? null : String((r() - 0.5) * 1e6),
    name: r() < 0.1 ? null : pick(['ann', 'Bob', 'ünïcødé', 'a,b', '"quoted"', 'NULL', ' spaced ']),
  };
  // Omitted: the column's default, evaluated in the batch's transaction.
  if (r() < 0.7) out['ts'] = `2026-0${1 + Math.floor(r() * 9)}-15 12:${String(Math.floor(r() * 60)).padStart(2, '0')}:00`;
  return out;
}

describe('read models over typed columns', () => {
  it('stay exact through inserts, updates across groups and deletes', async () => {
    const r = rng(3);
    let next = 1;
    for (let b = 0; b < 30; b++) {
      const reqs: Req[] = Array.from({ length: 1 + Math.floor(r() * 60) }, () => {
        const x = r();
        if (x < 0.6 || next < 20) return ins('things', row(r, next++));
        const id = String(1 + Math.floor(r() * (next - 1)));
        if (x < 0.85) {
          const { id: _, ...rest } = row(r, 0);
          return upd('things', [id], rest);
        }
        return del('things', [id]);
      });
      await flushBatch(ctx, [job(reqs)]);
    }
    await expectExact(env.pool, views);
    // The two spellings of one uuid are one group; char(n) values kept whole.
    const refs = await env.pool.query<{ ref: string | null }>('SELECT ref::text FROM sluice_views.by_ref ORDER BY ref');
    expect(refs.rows.map((x) => x.ref)).toEqual(['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'b1ffcd00-0d1c-4ef8-bb6d-6bb9bd380a22', null]);
    const codes = await env.pool.query<{ code: string | null }>('SELECT code FROM sluice_views.by_code ORDER BY code');
    expect(codes.rows.map((x) => x.code)).toEqual(['ab  ', 'abcd', 'xyz ', null]);
  }, 120_000);
});

/**
 * The writer sums a batch's images per group before the fold (writer/src/views/merge.ts):
 * batches of many rows over few groups, with values spelled every way Postgres
 * accepts (`+5`, ` 3`, `1e2`, `007.5`), more digits than numeric(10,2) keeps
 * (stored rounded), integers whose sum over a batch overflows their type,
 * timestamp(0) values with fractions (stored rounded), defaults left out: every
 * view equals a fresh `SELECT … GROUP BY` after every batch. (That a batch
 * reaches the fold as one input row per group is writer/src/views/merge.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import type { MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { expectExact, maintainedViews, rng } from './support.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { del, ins, job, upd, type Req } from '../writer/helpers.ts';

const SCHEMA = `
CREATE TABLE pay (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  amount numeric(10,2),
  big bigint,
  small int,
  at timestamp(0) NOT NULL DEFAULT '2026-01-01 00:00:00'
);`;

const VIEWS: Record<string, string> = {
  pay_stats: `select user_id, count(*) as n, count(amount) as n_amount, sum(amount) as total, avg(amount) as mean, min(amount) as lo, max(amount) as hi,
                     sum(big) as big_total, max(big) as big_hi, sum(small) as small_total, min(small) as small_lo, max(at) as last_at
                from pay where kind <> 'test' group by user_id`,
  by_kind: 'select kind, count(*) as n, sum(amount) as total, min(at) as first_at from pay group by kind',
};

const AMOUNTS = ['1.555', '+5', ' 3', '1e2', '007.5', '-0.005', '2.5E-1', '12', '-3.10', null, '99999.994'];
const BIGS = ['9000000000000000000', '-9000000000000000000', '+12', '0', null];
const SMALLS = ['2000000000', '-2000000000', '+7', ' 8', null];
const ATS = ['2026-03-01 10:00:00.7', '2026-03-01 10:00:00.4', '2026-02-28 23:59:59.5', undefined];

let env: TestEnv;
let ctx: FlushContext;
let views: MaintainedView[];

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  ({ ctx, views } = await maintainedViews(env.pool, ['pay'], VIEWS, true));
});
afterAll(async () => env?.cleanup());

function row(r: () => number, id: number): Record<string, string | null> {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const out: Record<string, string | null> = {
    id: String(id),
    user_id: pick(['1', '2', '02', '3']),
    kind: pick(['buy', 'buy', 'test']),
    amount: pick(AMOUNTS),
    big: pick(BIGS),
    small: pick(SMALLS),
  };
  const at = pick(ATS);
  if (at !== undefined) out['at'] = at;
  return out;
}

describe('read models fed merged images', () => {
  it('stay exact over batches of many rows per group in every spelling', async () => {
    const r = rng(11);
    let next = 1;
    for (let b = 0; b < 25; b++) {
      const reqs: Req[] = Array.from({ length: 40 + Math.floor(r() * 80) }, () => {
        const x = r();
        if (x < 0.75 || next < 50) return ins('pay', row(r, next++));
        const id = String(1 + Math.floor(r() * (next - 1)));
        if (x < 0.92) {
          const { id: _, ...rest } = row(r, 0);
          return upd('pay', [id], rest);
        }
        return del('pay', [id]);
      });
      await flushBatch(ctx, [job(reqs)]);
      await expectExact(env.pool, views);
    }
    // The rounding is what the table stored: 1.555 counted as 1.56, 10:00:00.7 as 10:00:01.
    const { rows } = await env.pool.query<{ hi: string; last_at: string }>("SELECT max(hi)::text AS hi, max(last_at)::text AS last_at FROM sluice_views.pay_stats");
    expect(rows[0]).toEqual({ hi: '99999.99', last_at: '2026-03-01 10:00:01' });
  }, 120_000);
});

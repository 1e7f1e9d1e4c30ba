/**
 * Fencing an old primary (writer/src/confirm/timeline-floor.ts), against a
 * real Postgres and Redis: the batch transaction reads the server's
 * timeline with BEGIN, and a server below the highest timeline any writer
 * recorded in Redis is refused before any statement (nothing committed,
 * retryable error, counted) — also by a writer that has never seen the
 * newer timeline itself. The fault test row 34 (test/faults/postgres.failover.test.ts)
 * does the same with a real promotion and an old primary brought back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { TimelineFloor, timelineFloorKey } from '@sluice/writer/confirm/timeline-floor.ts';
import { StaleTimelineError } from '@sluice/writer/confirm/errors.ts';
import { classify } from '@sluice/writer/flush/classify.ts';
import { serverState } from '@sluice/shared/sql/replication.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { flushContext, ins, job, quiet, rows, SCHEMA } from './helpers.ts';

let env: TestEnv;
let base: FlushContext;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  base = await flushContext(env);
});
afterAll(async () => env?.cleanup());

function floorOf(counts: { refused: string[] }) {
  const floor = new TimelineFloor(env.redis, env.prefix, () => ['main'], { refused: (_s, reason) => void counts.refused.push(reason), floor: () => {} }, quiet);
  const ctx: FlushContext = { ...base, server: (conn, st) => floor.check('main', conn, st) };
  return { floor, ctx };
}

describe('timeline floor', () => {
  it('a server on the current timeline takes batches; its timeline is recorded in Redis once', async () => {
    const { timeline } = await serverState(env.pool);
    const counts = { refused: [] as string[] };
    const { floor, ctx } = floorOf(counts);
    await floor.start();
    try {
      await flushBatch(ctx, [job([ins('users', { id: '1', name: 'ann' })])]);
      await flushBatch(ctx, [job([ins('users', { id: '2', name: 'bob' })])]);
      expect(await env.redis.get(timelineFloorKey(env.prefix, 'main'))).toBe(String(timeline));
      expect(floor.floorOf('main')).toBe(timeline);
      expect(counts.refused).toEqual([]);
      expect(await rows(env, 'SELECT id FROM users ORDER BY id')).toEqual([{ id: '1' }, { id: '2' }]);
    } finally {
      floor.stop();
    }
  });

  it('a writer that never saw the newer timeline refuses a server below the floor in Redis: nothing commits, the error is retryable', async () => {
    const { timeline } = await serverState(env.pool);
    // Another writer saw the shard's primary on a newer timeline (a promoted standby).
    await env.redis.set(timelineFloorKey(env.prefix, 'main'), String(timeline! + 1));
    const counts = { refused: [] as string[] };
    const { floor, ctx } = floorOf(counts);
    await floor.start();
    try {
      const before = await rows(env, 'SELECT count(*)::int AS n FROM sluice.applied_jobs');
      const err = await flushBatch(ctx, [job([ins('users', { id: '3', name: 'cy' })])]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StaleTimelineError);
      expect(classify(err)).toBe('retry');
      expect(counts.refused).toEqual(['stale-timeline']);
      expect(await rows(env, 'SELECT id FROM users WHERE id = 3')).toEqual([]);
      expect(await rows(env, 'SELECT count(*)::int AS n FROM sluice.applied_jobs')).toEqual(before);
      // The floor is never lowered by a server on an older timeline.
      expect(await env.redis.get(timelineFloorKey(env.prefix, 'main'))).toBe(String(timeline! + 1));
      // The connection went back to the pool in a usable state (rolled back, not mid-transaction).
      expect((await env.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      floor.stop();
      await env.redis.del(timelineFloorKey(env.prefix, 'main'));
    }
  });

  it('a floor raised in Redis while a writer runs reaches it on a new connection, without a restart', async () => {
    const { timeline } = await serverState(env.pool);
    const counts = { refused: [] as string[] };
    const { floor, ctx } = floorOf(counts);
    await floor.start();
    try {
      await flushBatch(ctx, [job([ins('users', { id: '4', name: 'di' })])]);
      await env.redis.set(timelineFloorKey(env.prefix, 'main'), String(timeline! + 1));
      // The periodic refresh (1 s) picks it up even on connections checked before.
      await new Promise((r) => setTimeout(r, 1500));
      await expect(flushBatch(ctx, [job([ins('users', { id: '5', name: 'ed' })])])).rejects.toBeInstanceOf(StaleTimelineError);
      expect(await rows(env, 'SELECT id FROM users WHERE id = 5')).toEqual([]);
      // verify(): the check of writes outside a batch (fence claims, retention).
      await expect(floor.verify('main', env.pool)).rejects.toBeInstanceOf(StaleTimelineError);
    } finally {
      floor.stop();
      await env.redis.del(timelineFloorKey(env.prefix, 'main'));
    }
  });
});

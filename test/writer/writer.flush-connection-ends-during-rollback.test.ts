/**
 * Regression (the flaky control case of the failover test, RELIABILITY row
 * 34): a batch whose connection ended under it (the primary SIGKILLed:
 * "terminating connection due to unexpected postmaster exit") killed the
 * writer process. pg-pool takes its own 'error' listener off a client while
 * it is checked out; the flush removed its listener before sending ROLLBACK,
 * so the socket's end, arriving just after the failed query, was an
 * unhandled 'error' event on the client: the writer exited and its
 * partitions' jobs stayed undrained. Here a trigger terminates its own
 * backend mid-batch: the flush must fail with a retryable error, the process
 * must see no uncaught exception, and the pool must keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { flushBatch, type FlushContext } from '@sluice/writer/flush/flush.ts';
import { classify } from '@sluice/writer/flush/classify.ts';
import { withTransaction } from '@sluice/shared/db/pool.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { flushContext, ins, job, rows, SCHEMA, TABLES } from './helpers.ts';

const SQL = `${SCHEMA};
CREATE TABLE doomed (id bigint PRIMARY KEY);
CREATE FUNCTION doomed_die() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;
CREATE TRIGGER doomed_die BEFORE INSERT ON doomed FOR EACH ROW EXECUTE FUNCTION doomed_die();`;

let env: TestEnv;
let ctx: FlushContext;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => void uncaught.push(err);

beforeAll(async () => {
  env = await createTestEnv({ sql: SQL });
  ctx = { ...(await flushContext(env)), catalog: await introspectCatalog(env.pool, [...TABLES, 'doomed']) };
  process.on('uncaughtException', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await env?.cleanup();
});

const settle = () => new Promise((r) => setTimeout(r, 300));

describe('a connection that ends during a batch', () => {
  it('fails the flush with a retryable error, raises no uncaught error event, and leaves the pool usable', async () => {
    for (let i = 0; i < 3; i++) {
      const err = await flushBatch(ctx, [job([ins('doomed', { id: String(i) })])]).catch((e: unknown) => e);
      expect(classify(err)).toBe('retry');
      // The socket's end comes after the failed query's error: give it time to arrive.
      await settle();
    }
    expect(uncaught).toEqual([]);
    await flushBatch(ctx, [job([ins('users', { id: '1', name: 'ann' })])]);
    expect(await rows(env, 'SELECT id FROM users')).toEqual([{ id: '1' }]);
    expect(await rows(env, 'SELECT id FROM doomed')).toEqual([]);
  });

  it('the same in withTransaction (shared/src/db/pool.ts)', async () => {
    for (let i = 0; i < 3; i++) {
      await expect(withTransaction(env.pool, (c) => c.query('INSERT INTO doomed VALUES ($1)', [100 + i]))).rejects.toThrow();
      await settle();
    }
    expect(uncaught).toEqual([]);
    expect((await env.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

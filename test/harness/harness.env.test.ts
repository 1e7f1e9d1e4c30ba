/**
 * createTestEnv hands out an isolated, migrated database and queue prefix,
 * and cleanup leaves nothing behind.
 */
import { describe, expect, inject, it } from 'vitest';
import { createTestEnv, eventually, testConfig, testEnvVars } from './index.ts';
import { adminPool } from './template.ts';

async function databaseExists(name: string): Promise<boolean> {
  const admin = adminPool(inject('sluiceDatabaseUrl'));
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe('createTestEnv', () => {
  it('gives a migrated database with the extra SQL applied, and cleanup drops it and its keys', async () => {
    const env = await createTestEnv({ sql: 'CREATE TABLE things (id int PRIMARY KEY); INSERT INTO things VALUES (7)' });
    const dbName = new URL(env.databaseUrl).pathname.slice(1);
    expect(env.prefix).toMatch(/^t-[0-9a-f]{12}$/);
    const { rows: migrations } = await env.pool.query<{ n: string }>('SELECT count(*) AS n FROM sluice.schema_migrations');
    expect(Number(migrations[0]!.n)).toBeGreaterThan(0);
    const { rows } = await env.pool.query<{ id: number }>('SELECT id FROM things');
    expect(rows).toEqual([{ id: 7 }]);

    await env.redis.set(`${env.prefix}:{p0}:meta`, 'x');
    await env.redis.set(`other-${Date.now()}`, 'kept');
    await env.cleanup();
    await env.cleanup(); // idempotent

    expect(await databaseExists(dbName)).toBe(false);
    const check = await createTestEnv();
    try {
      expect(await check.redis.keys(`*${env.prefix}*`)).toEqual([]);
      expect((await check.redis.keys('other-*')).length).toBeGreaterThan(0);
    } finally {
      await check.cleanup();
    }
  });

  it('isolates two envs from each other', async () => {
    const [a, b] = await Promise.all([createTestEnv({ sql: 'CREATE TABLE only_a (x int)' }), createTestEnv()]);
    try {
      expect(a.databaseUrl).not.toBe(b.databaseUrl);
      expect(a.prefix).not.toBe(b.prefix);
      await expect(b.pool.query('SELECT * FROM only_a')).rejects.toMatchObject({ code: '42P01' });
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });
});

describe('testConfig', () => {
  it('loads a test config with the env URLs and prefix; overrides win', () => {
    const env = { databaseUrl: 'postgres://postgres@127.0.0.1:1/db', redisUrl: 'redis://127.0.0.1:2', prefix: 't-abc' };
    const cfg = testConfig(env, { SLUICE_PARTITIONS: '8' });
    expect(cfg).toMatchObject({ NODE_ENV: 'test', DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl, SLUICE_QUEUE_PREFIX: 't-abc', SLUICE_PARTITIONS: 8 });
    expect(testEnvVars(env, { SLUICE_HOST: undefined })).not.toHaveProperty('SLUICE_HOST');
  });
});

describe('eventually', () => {
  it('retries until the assertion passes', async () => {
    let n = 0;
    const got = await eventually(() => {
      n++;
      expect(n).toBeGreaterThanOrEqual(3);
      return n;
    }, 1000, 1);
    expect(got).toBe(3);
  });

  it('rethrows the last error after the timeout', async () => {
    await expect(eventually(() => expect(1).toBe(2), 50, 5)).rejects.toThrow(/expected 1 to be 2/);
  });
});

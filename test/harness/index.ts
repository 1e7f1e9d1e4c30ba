/**
 * Test harness: a fresh database (cloned from the migrated template) and a
 * fresh queue prefix per call, so test files run in parallel without seeing
 * each other; `eventually` to wait for a condition instead of sleeping.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { loadConfig } from '@sluice/shared/config/index.ts';
import { quoteIdent } from '@sluice/shared/sql/ident.ts';
import { Cluster, Redis, isCluster, type RedisClient } from '@sluice/shared/redis/connections.ts';
import { isClusterUrl, parseClusterUrl } from '@sluice/shared/redis/url.ts';
import { type Config } from '@sluice/shared/config/schema.ts';
import { adminPool, withDatabase } from './template.ts';

/** One test's private slice of the shared servers. */
export interface TestEnv {
  /** URL of this env's own database (a clone of the migrated template). */
  databaseUrl: string;
  redisUrl: string;
  /** Unique queue prefix `t-<random>` (use as SLUICE_QUEUE_PREFIX). */
  prefix: string;
  /** Pool on `databaseUrl`, for setup and assertions. */
  pool: Pool;
  /** Plain ioredis connection (offline queue on: usable at once); a Cluster client when the run uses a Redis Cluster. */
  redis: RedisClient;
  /** Close connections, drop the database (WITH FORCE), delete the prefix's Redis keys. Idempotent. */
  cleanup(): Promise<void>;
}

/** Options of `createTestEnv`. */
export interface CreateTestEnvOptions {
  /** SQL run in the new database before it is handed out (e.g. CREATE TABLE). Multi-statement is fine. */
  sql?: string;
}

const log = createLogger('test', 'warn');

/** A plain test connection to `url`: one server or (redis+cluster://) a Cluster client. */
export function openTestRedis(url: string, name: string): RedisClient {
  if (!isClusterUrl(url)) return new Redis(url, { connectionName: name });
  return new Cluster([...parseClusterUrl(url).seeds], { redisOptions: { connectionName: name } });
}

/** Does this run use a Redis Cluster (SLUICE_TEST_REDIS=cluster)? */
export function onRedisCluster(): boolean {
  return isClusterUrl(inject('sluiceRedisUrl'));
}

async function deleteKeys(redis: RedisClient, match: string): Promise<void> {
  // SCAN walks one node: on a cluster, every master; UNLINK one key at a time (keys of several slots).
  for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await Promise.all(keys.map((k) => node.unlink(k)));
    } while (cursor !== '0');
  }
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = adminPool(adminUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Create a fresh database from the template (plus `opts.sql`) and a unique queue prefix. */
export async function createTestEnv(opts: CreateTestEnvOptions = {}): Promise<TestEnv> {
  const adminUrl = inject('sluiceDatabaseUrl');
  const redisUrl = inject('sluiceRedisUrl');
  const id = randomBytes(6).toString('hex');
  const dbName = `t_${id}`;
  const prefix = `t-${id}`;

  const admin = adminPool(adminUrl);
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(dbName)} TEMPLATE ${quoteIdent(inject('sluiceTemplateDatabase'))}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabase(adminUrl, dbName);
  const pool = createPool({ url: databaseUrl, max: 5, connectTimeoutMs: 10_000, statementTimeoutMs: 60_000, applicationName: 'sluice-test', log });
  if (opts.sql) {
    try {
      await pool.query(opts.sql);
    } catch (err) {
      await pool.end();
      await dropDatabase(adminUrl, dbName);
      throw err;
    }
  }
  const redis = openTestRedis(redisUrl, `test-${prefix}`);

  let closing: Promise<void> | undefined;
  const cleanup = () =>
    (closing ??= (async () => {
      // Every step runs even if one fails (BullMQ's close() rule); the first error is rethrown.
      const results = await Promise.allSettled([
        // The random id is in every key Sluice makes under this prefix, hash-tagged or not.
        deleteKeys(redis, `*${prefix}*`).finally(() => redis.quit().catch(() => redis.disconnect())),
        pool.end().then(() => dropDatabase(adminUrl, dbName)),
      ]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })());

  return { databaseUrl, redisUrl, prefix, pool, redis, cleanup };
}

/**
 * Retry `fn` until it stops throwing (an async assertion, usually), every
 * `intervalMs`, for at most `timeoutMs`; then rethrow its last error.
 * Tests wait with this, never with fixed sleeps.
 */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The parts of a `TestEnv` that configuration needs. */
export type TestEnvUrls = Pick<TestEnv, 'databaseUrl' | 'redisUrl' | 'prefix'>;

/**
 * Environment variables for a Sluice process under test (in-process config or
 * a spawned gateway/writer): NODE_ENV=test, the env's URLs and prefix, quiet
 * logs, loopback host. `overrides` win; an `undefined` override removes a default.
 */
export function testEnvVars(env: TestEnvUrls, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const merged: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    SLUICE_QUEUE_PREFIX: env.prefix,
    SLUICE_HOST: '127.0.0.1',
    // Needed whenever a test sets SLUICE_API_KEYS; harmless otherwise.
    SLUICE_HMAC_SECRET: 'test-hmac-secret-0123456789abcdef0123',
    SLUICE_LOG_LEVEL: 'warn',
    // No load balancer to wait for: a stopping gateway closes at once (tests of the drain set their own).
    SLUICE_DRAIN_GRACE_MS: '0',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined));
}

/** `loadConfig` over `testEnvVars(env, overrides)`: a validated, frozen Config for in-process tests. */
export function testConfig(env: TestEnvUrls, overrides: Record<string, string | undefined> = {}): Readonly<Config> {
  return loadConfig(testEnvVars(env, overrides));
}

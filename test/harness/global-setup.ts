/**
 * vitest globalSetup: one Postgres and one Redis for the whole run, and a
 * migrated template database. In order of preference:
 *   1. SLUICE_TEST_DATABASE_URL + SLUICE_TEST_REDIS_URL (servers you run);
 *   2. private servers from the local binaries, in temp folders;
 *   3. testcontainers (postgres:15, redis:7) where the binaries are missing.
 * Test files get the URLs with `inject()` (see `createTestEnv`).
 */
import type { TestProject } from 'vitest/node';
import { localServersAvailable } from '@sluice/local-servers/pg-bin.ts';
import { startPostgres } from '@sluice/local-servers/postgres.ts';
import { startRedis } from '@sluice/local-servers/redis.ts';
import { startRedisCluster } from '@sluice/local-servers/redis-cluster.ts';
import { createTemplateDatabase, TEMPLATE_DB } from './template.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (superuser) of the test Postgres server. */
    sluiceDatabaseUrl: string;
    /** URL of the test Redis (AOF on, noeviction unless the external one says otherwise). */
    sluiceRedisUrl: string;
    /** Migrated database to clone per test. */
    sluiceTemplateDatabase: string;
  }
}

interface Servers {
  databaseUrl: string;
  redisUrl: string;
  stop: () => Promise<void>;
}

/**
 * SLUICE_TEST_REDIS=cluster: the shared Redis is a local Redis Cluster (3
 * masters + 3 replicas) and every test gets a `redis+cluster://` URL — the
 * switch that runs the write and read suites against a cluster (CI does both).
 */
function wantsCluster(): boolean {
  return process.env.SLUICE_TEST_REDIS === 'cluster';
}

async function localServers(): Promise<Servers> {
  // fsync off: the shared server only has to survive our own process, not an
  // OS crash; tests that kill servers start their own.
  const [pg, redis] = await Promise.all([startPostgres({ fsync: false }), wantsCluster() ? startRedisCluster({ appendfsync: 'everysec' }) : startRedis()]);
  return {
    databaseUrl: pg.url,
    redisUrl: redis.url,
    stop: async () => {
      await Promise.allSettled([pg.destroy(), redis.destroy()]);
    },
  };
}

async function containerServers(): Promise<Servers> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const [pg, redis] = await Promise.all([
    new GenericContainer('postgres:15')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withCommand(['postgres', '-c', 'fsync=off', '-c', 'max_connections=200'])
      .withExposedPorts(5432)
      // The image's entrypoint starts a temporary server for init scripts first: wait for the second "ready".
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
    new GenericContainer('redis:7')
      .withCommand(['redis-server', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--save', ''])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start(),
  ]);
  return {
    databaseUrl: `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`,
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    stop: async () => {
      await Promise.allSettled([pg.stop(), redis.stop()]);
    },
  };
}

async function servers(): Promise<Servers> {
  const db = process.env.SLUICE_TEST_DATABASE_URL;
  const redis = process.env.SLUICE_TEST_REDIS_URL;
  if (db && redis) return { databaseUrl: db, redisUrl: redis, stop: async () => {} };
  return localServersAvailable() ? localServers() : containerServers();
}

/** Start (or adopt) the servers, build the template, provide URLs; returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const s = await servers();
  try {
    await createTemplateDatabase(s.databaseUrl, TEMPLATE_DB);
  } catch (err) {
    await s.stop();
    throw err;
  }
  project.provide('sluiceDatabaseUrl', s.databaseUrl);
  project.provide('sluiceRedisUrl', s.redisUrl);
  project.provide('sluiceTemplateDatabase', TEMPLATE_DB);
  return s.stop;
}

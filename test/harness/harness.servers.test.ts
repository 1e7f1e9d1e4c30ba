/**
 * The server starters the fault tests and `pnpm dev` depend on: settings,
 * restart on the same data, crash-stop, and replication.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { readRedisDurability } from '@sluice/shared/redis/startup-check.ts';
import { type QueryResultRow } from '@sluice/shared/db/pool.ts';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
import { eventually } from './index.ts';
import { adminPool } from './template.ts';

const started: (LocalPostgres | LocalRedis)[] = [];
afterAll(async () => {
  await Promise.allSettled(started.reverse().map((s) => s.destroy()));
});

/** One query on a throwaway one-connection pool (servers here come and go). */
async function query<R extends QueryResultRow>(url: string, sql: string, values?: unknown[]): Promise<R[]> {
  const pool = adminPool(url);
  try {
    return (await pool.query<R>(sql, values)).rows;
  } finally {
    await pool.end();
  }
}

describe('startRedis', () => {
  it('starts with AOF on, appendfsync always and noeviction', async () => {
    const r = await startRedis();
    started.push(r);
    const redis = new Redis(r.url);
    try {
      expect(await readRedisDurability(redis)).toEqual({ maxmemoryPolicy: 'noeviction', aofEnabled: true, appendfsync: 'always' });
    } finally {
      redis.disconnect();
    }
  });

  it('keeps a key written before SIGKILL when restarted on the same folder and port', async () => {
    const r = await startRedis();
    started.push(r);
    const port = r.port;
    const before = new Redis(r.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    before.on('error', () => {}); // the kill below closes the socket
    await before.set('survivor', 'yes'); // acknowledged ⇒ fsynced (appendfsync always)
    const oldPid = r.pid;
    r.kill('SIGKILL');
    await r.start();
    expect(r.port).toBe(port);
    expect(r.pid).not.toBe(oldPid);
    before.disconnect();
    const after = new Redis(r.url);
    try {
      expect(await after.get('survivor')).toBe('yes');
    } finally {
      after.disconnect();
    }
  });
});

describe('startPostgres', () => {
  it('comes back after an immediate stop with committed rows intact', async () => {
    const p = await startPostgres({ fsync: false });
    started.push(p);
    await query(p.url, 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)');
    await p.stopImmediate();
    await expect(query(p.url, 'SELECT 1')).rejects.toThrow();
    await p.start();
    const rows = await query<{ n: string }>(p.url, 'SELECT count(*) AS n FROM t');
    expect(rows[0]?.n).toBe('2');
    await p.stop();
    await p.stop(); // idempotent
  });

  it('restarts on the same folder and port after the postmaster is SIGKILLed', async () => {
    const p = await startPostgres({ fsync: false });
    started.push(p);
    await query(p.url, 'CREATE TABLE k (id int); INSERT INTO k VALUES (1)');
    const port = p.port;
    p.kill('SIGKILL');
    await p.start(); // waits out the orphaned backends still holding the old shared memory
    expect(p.port).toBe(port);
    const rows = await query<{ n: string }>(p.url, 'SELECT count(*) AS n FROM k');
    expect(rows[0]?.n).toBe('1');
  });

  it('startReplica streams a row inserted on the primary', async () => {
    const primary = await startPostgres({ fsync: false });
    started.push(primary);
    await query(primary.url, 'CREATE TABLE r (id int PRIMARY KEY, note text)');
    const replica = await startReplica(primary, { fsync: false });
    started.push(replica);
    const [rec] = await query<{ in_recovery: boolean }>(replica.url, 'SELECT pg_is_in_recovery() AS in_recovery');
    expect(rec?.in_recovery).toBe(true);
    await query(primary.url, "INSERT INTO r VALUES (1, 'streamed')");
    await eventually(async () => {
      const rows = await query<{ note: string }>(replica.url, 'SELECT note FROM r WHERE id = 1');
      expect(rows[0]?.note).toBe('streamed');
    });
  });
});

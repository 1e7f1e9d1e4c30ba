/**
 * RELIABILITY row 16 and read-your-writes against a real streaming replica
 * (own primary + `startReplica`): with replay paused a token read still sees
 * its write (primary fallback); the lagging replica is ejected, its lag and
 * state exposed as metrics, and readmitted after replay resumes; a slow
 * replica fill cannot overwrite a newer write-through; a frozen replica is
 * ejected and reads go on.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { type Catalog } from '@sluice/shared/catalog/types.ts';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { lsnKeyOf } from '@sluice/shared/read/cache/lsn.ts';
import { type ReadTable } from '@sluice/shared/read/tables.ts';
import { eventually, testConfig } from '../harness/index.ts';
import { catalogOf, committedWrite, log, ReadCounter, startReadService , type TestReadService } from './helpers.ts';

let primary: LocalPostgres;
let replica: LocalPostgres;
let db: Pool;
let replicaDb: Pool;
let redis: Redis;
let catalog: Catalog;
let service: TestReadService;
let accounts: ReadTable;
const counter = new ReadCounter();
const prefix = `t-${randomBytes(6).toString('hex')}`;

const update = 'UPDATE accounts AS r SET balance = $2 WHERE id = $1 RETURNING row_to_json(r.*)::text AS j, r.id::text AS k';
const balanceOf = (row: string | null) => (JSON.parse(row!) as { balance: number }).balance;

async function replayPaused(paused: boolean): Promise<void> {
  await replicaDb.query(paused ? 'SELECT pg_wal_replay_pause()' : 'SELECT pg_wal_replay_resume()');
  if (paused) await eventually(async () => expect((await replicaDb.query('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0].s).toBe('paused'));
}

/**
 * Signal the replica's postmaster and every backend: each backend is its own
 * process group (Postgres calls setsid() in every child), so a group signal
 * would miss them.
 */
function signalReplica(sig: NodeJS.Signals): void {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(replica.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    // pgrep exits 1 when there are none
  }
  for (const pid of [replica.pid, ...children]) {
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  }
}

function state(): string {
  return service.replicas.replicas[0]!.state;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await service.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? NaN : Number(line.split(' ').pop());
}

beforeAll(async () => {
  primary = await startPostgres({ fsync: false });
  db = createPool({ url: primary.url, max: 4, connectTimeoutMs: 5000, statementTimeoutMs: 30_000, applicationName: 'test-primary', log });
  await db.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, owner text); INSERT INTO accounts SELECT i, 100, 'o' || (i % 5) FROM generate_series(1, 200) i");
  replica = await startReplica(primary, { fsync: false });
  replicaDb = createPool({ url: replica.url, max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 30_000, applicationName: 'test-replica', log });
  redis = new Redis(inject('sluiceRedisUrl'));
  catalog = await catalogOf(db, ['accounts']);
  const config = testConfig(
    { databaseUrl: primary.url, redisUrl: inject('sluiceRedisUrl'), prefix },
    { SLUICE_TABLES: 'accounts', SLUICE_REPLICA_URLS: replica.url, SLUICE_REPLICA_CHECK_MS: '50', SLUICE_MAX_REPLICA_LAG_MS: '300', SLUICE_RYW_WAIT_MS: '50' },
  );
  service = await startReadService(config, db, catalog, counter);
  accounts = service.tables.get('accounts')!;
  await eventually(() => expect(state()).toBe('healthy'));
}, 120_000);

afterAll(async () => {
  if (replica?.pid) signalReplica('SIGCONT');
  await service?.stop();
  await Promise.allSettled([db?.end(), replicaDb?.end()]);
  if (redis) {
    const keys = await redis.keys(`*${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
  await Promise.allSettled([replica?.destroy(), primary?.destroy()]);
}, 60_000);

describe('reads through a streaming replica', () => {
  it('reads without a token come from a healthy replica, stamped with its replay position', async () => {
    const r = await service.getRow(accounts, ['1']);
    expect(r.source).toBe('replica');
    expect(balanceOf(r.row)).toBe(100);
    const { rows } = await replicaDb.query<{ l: string }>('SELECT pg_last_wal_replay_lsn()::text AS l');
    expect(r.lsn <= lsnKeyOf(rows[0]!.l)).toBe(true);
    const page = await service.list(accounts, null, null, 10);
    expect(page.source).toBe('replica');
  });

  it('RELIABILITY 16: paused replay — token reads see their write via the primary; the replica is ejected, measured, readmitted', async () => {
    await service.getRow(accounts, ['2']); // cached from the replica, older than the write below
    await replayPaused(true);
    const { token } = await committedWrite(db, update, ['2', 222], null); // no write-through: the cache cannot help
    const ryw = await service.getRow(accounts, ['2'], lsnKeyOf(token));
    expect(ryw.source).toBe('primary');
    expect(balanceOf(ryw.row)).toBe(222);

    await eventually(() => expect(state()).toBe('lagging'), 10_000);
    expect(await metric('sluice_replica_lag_seconds', `replica="${service.replicas.replicas[0]!.name}"`)).toBeGreaterThan(0.3);
    expect(await metric('sluice_replica_state', 'state="lagging"')).toBe(1);
    expect(await metric('sluice_replica_state', 'state="healthy"')).toBe(0);
    expect(await metric('sluice_replica_lag_bytes', 'replica=')).toBeGreaterThan(0);
    // Ejected: reads without a token go to the primary too.
    expect((await service.getRow(accounts, ['150'])).source).toBe('primary');
    expect((await service.list(accounts, null, null, 5)).source).toBe('primary');

    await replayPaused(false);
    await eventually(() => expect(state()).toBe('healthy'), 10_000);
    expect(await metric('sluice_replica_lag_seconds', 'replica=')).toBe(0);
    expect((await service.getRow(accounts, ['151'])).source).toBe('replica');
    // Caught up: the token is now served by the replica (no primary read).
    await service.store.redis.del(service.store.keys('accounts', ['2']).entry);
    const again = await service.getRow(accounts, ['2'], lsnKeyOf(token));
    expect(again.source).toBe('replica');
    expect(balanceOf(again.row)).toBe(222);
  });

  it('the first write after an idle spell does not eject a replica that replays it within the limit', async () => {
    await eventually(() => expect(state()).toBe('healthy'), 10_000);
    await db.query('UPDATE accounts SET balance = balance + 1 WHERE id = 30'); // a commit for the replica to replay
    // Idle: the last replayed commit is older than the lag limit (300 ms)…
    await eventually(async () => {
      const { rows } = await replicaDb.query<{ ms: number }>('SELECT (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS ms');
      expect(rows[0]!.ms ?? 0).toBeGreaterThan(600);
    }, 10_000, 50);
    // …then one write the replica does not replay for a while (but less than the limit).
    await replayPaused(true);
    const r = service.replicas.replicas[0]!;
    try {
      await db.query('UPDATE accounts SET balance = balance + 1 WHERE id = 30');
      await eventually(() => expect(r.lagBytes).toBeGreaterThan(0), 5000, 5); // a check saw it behind
      expect(r.lagMs).toBeLessThan(300); // measured from when the primary moved, not from the old commit
      expect(state()).toBe('healthy');
    } finally {
      await replayPaused(false);
    }
    await eventually(() => expect(r.lagBytes).toBe(0), 5000);
    expect(state()).toBe('healthy');
  });

  it('read-your-writes under paused replay: every committed write is read back by its token', async () => {
    await replayPaused(true);
    try {
      for (let i = 0; i < 20; i++) {
        const id = String(10 + (i % 4)); // the same few rows, written again and again
        const withThrough = i % 2 === 0;
        const { token } = await committedWrite(db, update, [id, 1000 + i], withThrough ? { redis: service.store.redis, catalog, prefix, table: 'accounts' } : null);
        const r = await service.getRow(accounts, [id], lsnKeyOf(token));
        expect([i, balanceOf(r.row)]).toEqual([i, 1000 + i]);
        expect(r.source).not.toBe('replica');
        if (withThrough) expect(r.source).toBe('cache');
      }
    } finally {
      await replayPaused(false);
    }
    await eventually(() => expect(state()).toBe('healthy'), 10_000);
  });

  it('a slow fill from the replica cannot replace a newer write-through (LSN compare-and-set)', async () => {
    const id = '20';
    await replayPaused(true);
    try {
      counter.hold();
      const slow = service.getRow(accounts, [id]); // reads balance 100 from the replica, then waits before filling
      await eventually(() => expect(counter.held).toBe(1));
      expect(counter.counts.replica).toBeGreaterThan(0);
      const { token } = await committedWrite(db, update, [id, 555], { redis: service.store.redis, catalog, prefix, table: 'accounts' });
      counter.release();
      const r = await slow;
      expect(balanceOf(r.row)).toBe(555); // the fill lost; the newer entry answered
      const entry = await service.store.get(service.store.keys('accounts', [id]));
      expect(entry?.lsn).toBe(lsnKeyOf(token));
      expect(balanceOf(entry!.body)).toBe(555);
    } finally {
      counter.release();
      await replayPaused(false);
    }
  });

  it('a frozen replica is ejected and reads fall back to the primary; it is readmitted when it thaws', async () => {
    await eventually(() => expect(state()).toBe('healthy'), 10_000);
    signalReplica('SIGSTOP'); // the whole server: postmaster and backends
    try {
      const started = Date.now();
      const r = await service.getRow(accounts, ['160']);
      expect(r.source).toBe('primary');
      expect(Date.now() - started).toBeLessThan(10_000);
      await eventually(() => expect(state()).toBe('down'), 10_000);
      expect(await metric('sluice_replica_state', 'state="down"')).toBe(1);
    } finally {
      signalReplica('SIGCONT');
    }
    await eventually(() => expect(state()).toBe('healthy'), 15_000);
    expect((await service.getRow(accounts, ['161'])).source).toBe('replica');
  });
});

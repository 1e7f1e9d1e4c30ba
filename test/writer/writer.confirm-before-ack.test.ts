/**
 * SLUICE_CONFIRM_BEFORE_ACK (README "Replicas and primary failover"), with
 * real gateway and writer processes over a primary and a `pg_basebackup -R`
 * streaming replica: with the primary's WAL sender frozen, a `committed`
 * write commits on the primary but its 201 does not come until the replica
 * has the commit; once the WAL sender runs again, it does. Without the knob
 * the same write is answered while the replica still lacks it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { migrate } from '@sluice/shared/migrations/migrate.ts';
import { standbyState } from '@sluice/shared/sql/replication.ts';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { createTestEnv, eventually, testEnvVars, type TestEnv } from '../harness/index.ts';

const log = createLogger('test', 'silent');
let primary: LocalPostgres;
let replica: LocalPostgres;
let db: Pool;
let env: TestEnv;
let procs: TsProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  primary = await startPostgres({ fsync: false });
  replica = await startReplica(primary, { fsync: false });
  db = createPool({ url: primary.url, max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 10_000, applicationName: 'confirm-ack-test', log });
  await migrate(db);
  await db.query('CREATE TABLE notes (id bigint PRIMARY KEY, v text NOT NULL)');
  await eventually(async () => expect((await standbyState(db, 'flush')).positions).toHaveLength(1), 20_000);
}, 120_000);
afterAll(async () => {
  for (const p of procs) await p.stop().catch(() => {});
  await db?.end().catch(() => {});
  await Promise.allSettled([replica?.destroy(), primary?.destroy()]);
  await env?.cleanup();
});

/** A gateway and a writer over the primary (the replica configured), `extra` over the defaults. */
async function start(extra: Record<string, string>): Promise<string> {
  for (const p of procs) await p.stop();
  procs = [];
  const port = await freePort();
  const vars = testEnvVars({ ...env, databaseUrl: primary.url }, { SLUICE_TABLES: 'notes', SLUICE_REPLICA_URLS: replica.url, SLUICE_PARTITIONS: '1', SLUICE_PORT: String(port), SLUICE_COMMIT_WAIT_MS: '30000', SLUICE_CONFIRM_TIMEOUT_MS: '60000', SLUICE_CONFIRM_ON_TIMEOUT: 'wait', ...extra });
  procs.push(await startTsProcess('writer/src/main.ts', { name: 'writer', env: vars, ready: /writer started/, timeoutMs: 60_000 }));
  procs.push(await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: vars, ready: /gateway listening/, timeoutMs: 60_000 }));
  return `http://127.0.0.1:${port}`;
}

/**
 * The WAL sender to the replica, frozen (SIGSTOP) until the returned function thaws it.
 * First the replica catches up: the warm-up write's batch is confirmed, and (a partition's
 * next batch waits for the previous one's confirmation) the next batch can run.
 */
async function holdWalSender(): Promise<() => void> {
  const { rows: at } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await eventually(async () => {
    const { rows } = await db.query<{ ok: boolean }>('SELECT bool_and(flush_lsn >= $1::pg_lsn) AS ok FROM pg_stat_replication', [at[0]!.lsn]);
    expect(rows[0]!.ok).toBe(true);
  }, 20_000);
  await new Promise((r) => setTimeout(r, 500)); // the writer's confirmer polls every ≤ 25 ms
  const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_replication');
  const pid = rows[0]!.pid;
  process.kill(pid, 'SIGSTOP');
  return () => process.kill(pid, 'SIGCONT');
}

const post = (base: string, id: number) =>
  fetch(`${base}/v1/tables/notes`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': 'committed' }, body: JSON.stringify({ id, v: 'x' }) });

describe('SLUICE_CONFIRM_BEFORE_ACK', () => {
  it('off: a committed ack comes while the replica still lacks the commit', async () => {
    const base = await start({});
    expect((await post(base, 1)).status).toBe(201); // warm: partitions owned, connections open
    const thaw = await holdWalSender();
    try {
      const res = await Promise.race([post(base, 2), new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
      expect(res?.status).toBe(201);
    } finally {
      thaw();
    }
  }, 120_000);

  it('on: the committed ack waits until the replica has the commit, and comes once it does', async () => {
    const base = await start({ SLUICE_CONFIRM_BEFORE_ACK: 'true' });
    expect((await post(base, 3)).status).toBe(201);
    const thaw = await holdWalSender();
    let thawed = false;
    try {
      let answered = false;
      const pending = post(base, 4).then((r) => {
        answered = true;
        return r;
      });
      // Committed on the primary, yet no answer while the replica cannot have it.
      await eventually(async () => expect((await db.query('SELECT 1 FROM notes WHERE id = 4')).rowCount).toBe(1), 20_000);
      await new Promise((r) => setTimeout(r, 1500));
      expect(answered).toBe(false);
      thaw();
      thawed = true;
      expect((await pending).status).toBe(201);
    } finally {
      if (!thawed) thaw();
    }
  }, 120_000);
});

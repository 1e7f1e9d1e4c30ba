/**
 * SLUICE_CONFIRM_BEFORE_ACK (README "Replicas and primary failover"), with
 * real gateway and writer processes over a primary and a `pg_basebackup -R`
 * streaming replica: with the primary's WAL sender frozen, a `committed`
 * write commits on the primary but its 201 does not come until the replica
 * has the commit; once the WAL sender runs again, it does. Without the knob
 * the same write is answered while the replica still lacks it.
 *
 * `Sluice-Ack: replicated` asks the same per request (the knob off): its
 * 201 waits for the replica, says `replicated: true`, and is never sent for
 * a confirmation that timed out (504 instead); to a shard without
 * confirmation it is a 400 problem and nothing is enqueued.
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

const post = (base: string, id: number, ack = 'committed') =>
  fetch(`${base}/v1/tables/notes`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': ack }, body: JSON.stringify({ id, v: 'x' }) });

/** Post `id` while the WAL sender is held: it commits on the primary, yet no answer comes for 1.5 s; then thaw and return the answer. */
async function heldUntilThawed(base: string, id: number, ack: string): Promise<Response> {
  const thaw = await holdWalSender();
  let thawed = false;
  try {
    let answered = false;
    const pending = post(base, id, ack).then((r) => {
      answered = true;
      return r;
    });
    // Committed on the primary, yet no answer while the replica cannot have it.
    await eventually(async () => expect((await db.query('SELECT 1 FROM notes WHERE id = $1', [id])).rowCount).toBe(1), 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(answered).toBe(false);
    thaw();
    thawed = true;
    return await pending;
  } finally {
    if (!thawed) thaw();
  }
}

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
    expect((await heldUntilThawed(base, 4, 'committed')).status).toBe(201);
  }, 120_000);
});

describe('Sluice-Ack: replicated', () => {
  it('with the knob off: the replicated ack waits until the replica has the commit, and says so', async () => {
    const base = await start({});
    expect((await post(base, 10)).status).toBe(201);
    const res = await heldUntilThawed(base, 11, 'Replicated');
    expect(res.status).toBe(201);
    const body = (await res.json()) as { writeId: string; status: string; replicated?: boolean; token: string };
    expect(body).toMatchObject({ status: 'committed', replicated: true });
    expect(res.headers.get('sluice-consistency-token')).toBe(body.token);
    // The same over /v1/batch.
    const batch = await fetch(`${base}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': 'replicated' }, body: JSON.stringify({ ops: [{ table: 'notes', op: 'insert', row: { id: 12, v: 'b' } }] }) });
    expect(batch.status).toBe(200);
    expect(await batch.json()).toMatchObject({ status: 'committed', replicated: true });
  }, 120_000);

  it('a confirmation that times out (SLUICE_CONFIRM_ON_TIMEOUT=complete) sends no replicated ack: 504 with the writeId', async () => {
    const base = await start({ SLUICE_CONFIRM_TIMEOUT_MS: '1000', SLUICE_CONFIRM_ON_TIMEOUT: 'complete', SLUICE_COMMIT_WAIT_MS: '4000' });
    expect((await post(base, 20)).status).toBe(201);
    const thaw = await holdWalSender();
    try {
      const res = await post(base, 21, 'replicated');
      expect(res.status).toBe(504);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ writeStatus: 'queued' });
      // It did commit (the confirmation timed out and the job completed anyway, counted as unconfirmed).
      expect((await db.query('SELECT 1 FROM notes WHERE id = 21')).rowCount).toBe(1);
    } finally {
      thaw();
    }
  }, 120_000);

  it('to a shard without confirmation (SLUICE_CONFIRM_REPLICAS=0): 400 problem+json, nothing enqueued; a bad value: 400', async () => {
    const base = await start({ SLUICE_CONFIRM_REPLICAS: '0' });
    const res = await post(base, 30, 'replicated');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ type: 'https://sluice.dev/problems/replication-not-configured', shard: 'main' });
    const bad = await post(base, 31, 'replicated-please');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toContain('"replicated"');
    // A committed write after them commits; the refused ones never do.
    expect((await post(base, 32)).status).toBe(201);
    const { rows } = await db.query<{ id: string }>('SELECT id FROM notes WHERE id IN (30, 31, 32) ORDER BY id');
    expect(rows).toEqual([{ id: '32' }]);
  }, 120_000);
});

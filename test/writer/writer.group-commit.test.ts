/**
 * Group commit (writer/src/flush/group-commit.ts), in-process against real
 * Postgres, Redis and BullMQ, with leased partitions (so every batch checks
 * its fence). A fail point holds every transaction 1 s before COMMIT: while
 * partition 0's lone transaction is held, batches of partitions 1–3 become
 * ready and wait; they then commit together in ONE transaction — the same
 * xmin on their `sluice.applied_jobs` rows. A poison request in one member,
 * or one member fenced out, rolls that group back and each batch flushes
 * alone: only the poison request is dead-lettered, the fenced partition is
 * given up, and the other members commit.
 */
import { createRedis, type RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { subscribeTo } from '@sluice/shared/redis/pubsub.ts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ackChannel, type WriteOutcome } from '@sluice/shared/queue/contract.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { logsOf, part } from '../harness/partitions.ts';
import { ins, nextJobId, payload, quiet, rows, SCHEMA, TABLES, type Req } from './helpers.ts';

let env: TestEnv;
let writer: Writer | undefined;
let sub: Redis | undefined;
let outcomes: WriteOutcome[];

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
});
beforeEach(async () => {
  outcomes = [];
  sub = createRedis({ url: env.redisUrl, role: 'subscriber', timeoutMs: 2000, name: 'test-acks-gc' });
  await subscribeTo(sub, ackChannel(env.prefix, 'gw-gc'), (message) => outcomes.push(...(JSON.parse(message) as WriteOutcome[])));
});
afterEach(async () => {
  await writer?.stop();
  writer = undefined;
  await sub?.quit();
  await env.pool.query('TRUNCATE users, events, sluice.applied_jobs, sluice.dead_letters');
});
afterAll(async () => env?.cleanup());

/** Append one job of `reqs` to partition `p`, as a gateway does; returns its id. */
async function add(p: number, reqs: Req[]): Promise<string> {
  const id = nextJobId(p);
  await logsOf(env).get(part(p)).append([{ id, data: payload(id, reqs) }]);
  return id;
}

/** A writer over 4 leased partitions whose every transaction waits 1 s before COMMIT. */
async function start(): Promise<Writer> {
  const config = testConfig(env, { SLUICE_TABLES: TABLES.join(','), SLUICE_PARTITIONS: '4', SLUICE_BATCH_LINGER_MS: '5', SLUICE_FAILPOINTS: 'before-commit=1000', SLUICE_GROUP_COMMIT: 'true' });
  const w = await startWriter(config, { log: quiet });
  await eventually(() => expect(w.partitions()).toHaveLength(4), 15_000);
  return w;
}

/** Partition 0's lone transaction is open (held at the fail point): batches that become ready now wait for it. */
async function holdPartitionZero(): Promise<void> {
  await add(0, [ins('events', { kind: 'p0' }, { ack: 'gw-gc' })]);
  await eventually(async () => {
    const r = await rows(env, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sluice-writer-main' AND state = 'idle in transaction'`);
    expect(r).toHaveLength(1);
  }, 10_000);
}

/** The transaction id that applied each job. */
async function xminOf(ids: string[]): Promise<Map<string, string>> {
  const r = await rows<{ job_id: string; x: string }>(env, 'SELECT job_id, xmin::text AS x FROM sluice.applied_jobs WHERE job_id = ANY($1)', [ids]);
  return new Map(r.map((x) => [x.job_id, x.x]));
}

const metric = async (w: Writer, name: string) => w.metrics.registry.getSingleMetricAsString(name);

describe('group commit', () => {
  it('commits batches of several partitions that waited for the shard in ONE transaction', async () => {
    writer = await start();
    await holdPartitionZero();
    const ids = await Promise.all([1, 2, 3].map((p) => add(p, [ins('events', { kind: `p${p}-a` }, { ack: 'gw-gc' }), ins('events', { kind: `p${p}-b` }, { ack: 'gw-gc' })])));
    await eventually(async () => expect((await xminOf(ids)).size).toBe(3), 15_000);
    const x = await xminOf(ids);
    expect(new Set(x.values()).size).toBe(1);
    await eventually(() => expect(outcomes).toHaveLength(7), 10_000);
    expect(outcomes.every((o) => o.s === 'committed')).toBe(true);
    // One consistency token for the three partitions' requests.
    expect(new Set(outcomes.filter((o) => !o.id.startsWith(part(0).name)).map((o) => (o.s === 'committed' ? o.lsn : '')))).toHaveProperty('size', 1);
    expect(await rows(env, `SELECT count(*)::int AS n FROM events`)).toEqual([{ n: 7 }]);
    const h = await metric(writer, 'sluice_writer_partitions_per_transaction');
    expect(h).toMatch(/sluice_writer_partitions_per_transaction_bucket\{le="2"\} 1$/m);
    expect(h).toMatch(/sluice_writer_partitions_per_transaction_bucket\{le="3"\} 2$/m);
    expect(await metric(writer, 'sluice_writer_rows_committed_total')).toMatch(/^sluice_writer_rows_committed_total 7$/m);
    const batches = await metric(writer, 'sluice_writer_batches_total');
    for (const p of [0, 1, 2, 3]) expect(batches).toContain(`partition="${part(p).name}"} 1`);
  });

  it('a poison request in one member: the group rolls back, that request alone is dead-lettered, the other members commit', async () => {
    writer = await start();
    await holdPartitionZero();
    const ids = await Promise.all([
      add(1, [ins('users', { id: '1', name: 'ok-1' }, { ack: 'gw-gc' }), ins('users', { id: '2', name: 'x'.repeat(40) }, { ack: 'gw-gc' }), ins('users', { id: '3', name: 'ok-3' }, { ack: 'gw-gc' })]),
      add(2, [ins('events', { kind: 'p2' }, { ack: 'gw-gc' })]),
      add(3, [ins('events', { kind: 'p3' }, { ack: 'gw-gc' })]),
    ]);
    await eventually(async () => expect((await xminOf(ids)).size).toBe(3), 20_000);
    // Each member committed in a transaction of its own after the group failed.
    expect(new Set((await xminOf(ids)).values()).size).toBe(3);
    expect(await rows(env, 'SELECT id::int FROM users ORDER BY id')).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await rows(env, `SELECT kind FROM events ORDER BY kind`)).toEqual([{ kind: 'p0' }, { kind: 'p2' }, { kind: 'p3' }]);
    expect(await rows(env, 'SELECT write_id, sqlstate FROM sluice.dead_letters')).toEqual([{ write_id: `${ids[0]}.1`, sqlstate: '22001' }]);
    await eventually(() => expect(outcomes).toHaveLength(6), 10_000);
    expect(outcomes.filter((o) => o.s === 'dead').map((o) => o.id)).toEqual([`${ids[0]}.1`]);
    expect(await metric(writer, 'sluice_writer_group_fallbacks_total')).toMatch(/^sluice_writer_group_fallbacks_total 1$/m);
  });

  it('a member fenced out (a newer owner) does not stop the others committing', async () => {
    writer = await start();
    await holdPartitionZero();
    // A newer owner of partition 2 raised its fencing token in Postgres.
    await env.pool.query(`UPDATE sluice.partition_fences SET token = token + 1000 WHERE partition = $1`, [part(2).name]);
    const ids = await Promise.all([1, 2, 3].map((p) => add(p, [ins('events', { kind: `f${p}` }, { ack: 'gw-gc' })])));
    await eventually(async () => {
      const x = await xminOf(ids);
      expect(x.has(ids[0]!) && x.has(ids[2]!)).toBe(true);
    }, 20_000);
    expect(await metric(writer, 'sluice_writer_group_fallbacks_total')).toMatch(/^sluice_writer_group_fallbacks_total 1$/m);
    // Partition 2's job was not applied by the fenced batch; the writer gave the partition up …
    const x = await xminOf(ids);
    expect(x.get(ids[0]!)).not.toBe(x.get(ids[2]!));
    // … and takes it again with a token above the newer owner's, then applies the job once.
    await eventually(async () => expect(await rows(env, `SELECT kind FROM events WHERE kind LIKE 'f%' ORDER BY kind`)).toEqual([{ kind: 'f1' }, { kind: 'f2' }, { kind: 'f3' }]), 30_000);
    expect(await rows(env, 'SELECT count(*)::int AS n FROM sluice.applied_jobs WHERE job_id = $1', [ids[1]])).toEqual([{ n: 1 }]);
  });
});

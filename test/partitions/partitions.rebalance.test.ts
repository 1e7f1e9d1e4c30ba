/**
 * Lease-based partition ownership with in-process writers on real Redis,
 * BullMQ and Postgres: two writers split the partitions fairly; a writer that
 * stops hands its partitions over (open batch committed first) and the other
 * takes them within one check; per-key order and exactly-once hold across
 * both handovers while upserts keep coming.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { quiet } from '../writer/helpers.ts';
import { expectKvSound, keysCovering, KvProducer, leases } from './support.ts';

const PARTITIONS = 4;
const TTL = 1000;
const RENEW = 200;

let env: TestEnv;
let producer: KvProducer;
const writers: Writer[] = [];

beforeAll(async () => {
  env = await createTestEnv({ sql: (await import('./support.ts')).KV_SQL });
  producer = new KvProducer(env, PARTITIONS);
});
afterEach(async () => {
  await Promise.allSettled(writers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await producer?.close();
  await env?.cleanup();
});

const config = () =>
  testConfig(env, {
    SLUICE_TABLES: 'kv',
    SLUICE_PARTITIONS: String(PARTITIONS),
    SLUICE_BATCH_LINGER_MS: '5',
    SLUICE_LEASE_TTL_MS: String(TTL),
    SLUICE_LEASE_RENEW_MS: String(RENEW),
    SLUICE_LOCK_DURATION_MS: '2000',
  });

async function writer(): Promise<Writer> {
  const w = await startWriter(config(), { log: quiet });
  writers.push(w);
  return w;
}

describe('partition leases', () => {
  it('two writers split the partitions 2/2; a stopping writer hands over, and order and exactly-once hold', { timeout: 60_000 }, async () => {
    const a = await writer();
    expect(a.partitions()).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']);
    const keys = keysCovering(PARTITIONS);
    // Load until a few rounds after the handover, however long that takes.
    let stopAt = Number.POSITIVE_INFINITY;
    let round = 0;
    const load = producer.runWhile(keys, () => ++round <= stopAt, 10);

    const b = await writer();
    // a hands over what b is short of (after draining it); b takes what is free.
    await eventually(() => {
      expect(a.partitions()).toHaveLength(2);
      expect(b.partitions()).toHaveLength(2);
    }, 5000);
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']);
    const owners = await leases(env, PARTITIONS);
    expect(owners.every((l) => l !== null)).toBe(true);
    // Every acquisition took a fresh token, and Postgres holds the current ones.
    const { rows } = await env.pool.query<{ partition: string; token: string }>('SELECT partition, token FROM sluice.partition_fences ORDER BY partition');
    expect(rows.map((r) => Number(r.token))).toEqual(owners.map((l) => l!.token));

    // Graceful stop, under load: a's leases are deleted after its batches commit; b takes them at its next check.
    await eventually(() => expect(round).toBeGreaterThan(3));
    const stopped = a.stop();
    await stopped;
    writers.splice(writers.indexOf(a), 1);
    const t0 = performance.now();
    await eventually(() => expect(b.partitions()).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']), 5000, 10);
    const handoverMs = performance.now() - t0;
    expect(handoverMs).toBeLessThan(RENEW * 2 + 500);

    stopAt = round + 5;
    await load;
    await eventually(async () => expect(await producer.backlog()).toBe(0), 15_000);
    expect(await producer.failed()).toBe(0);
    await expectKvSound(env, producer);
    console.info(`[partitions] graceful handover: b owned all ${PARTITIONS} partitions ${Math.round(handoverMs)} ms after a.stop() resolved`);
  });

  it('a writer joining later gets its share, and leaving cleanly frees its heartbeat and leases', async () => {
    const a = await writer();
    const b = await writer();
    const c = await writer();
    await eventually(() => {
      const shares = [a, b, c].map((w) => w.partitions().length).sort();
      expect(shares).toEqual([1, 1, 2]);
    }, 8000);
    for (const w of [a, b, c]) await w.stop();
    writers.splice(0);
    expect((await leases(env, PARTITIONS)).every((l) => l === null)).toBe(true);
    expect(await env.redis.zcard(`${env.prefix}:sluice:writers`)).toBe(0);
  });
});

/**
 * RELIABILITY row 15 at the scale of one file: writer A (a real process) is
 * SIGKILLed while it holds half the partitions with batches in flight; writer
 * B takes them over once A's leases expire, within SLUICE_LEASE_TTL_MS +
 * SLUICE_LEASE_RENEW_MS (plus the takeover itself), and every upsert is
 * applied exactly once in per-key order: A's unfinished jobs are handed back
 * to the queue head in their order before B takes anything newer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, testEnvVars, type TestEnv } from '../harness/index.ts';
import { quiet } from '../writer/helpers.ts';
import { expectKvSound, keysCovering, KV_SQL, KvProducer, leases } from './support.ts';

const PARTITIONS = 4;
const TTL = 1500;
const RENEW = 300;

let env: TestEnv;
let producer: KvProducer;
let a: TsProcess | undefined;
let b: Writer | undefined;

beforeAll(async () => {
  env = await createTestEnv({ sql: KV_SQL });
  producer = new KvProducer(env, PARTITIONS);
});
afterAll(async () => {
  await a?.stop(2000);
  await b?.stop();
  await producer?.close();
  await env?.cleanup();
});

const knobs = {
  SLUICE_TABLES: 'kv',
  SLUICE_PARTITIONS: String(PARTITIONS),
  SLUICE_BATCH_LINGER_MS: '5',
  SLUICE_LEASE_TTL_MS: String(TTL),
  SLUICE_LEASE_RENEW_MS: String(RENEW),
  SLUICE_LOCK_DURATION_MS: '5000',
};

describe('takeover after SIGKILL', () => {
  it('the survivor takes the dead writer\'s partitions within the lease bound; nothing lost, nothing twice, per-key order kept', { timeout: 60_000 }, async () => {
    // A holds every transaction open 150 ms before COMMIT: it always has batches in flight and jobs active.
    a = await startTsProcess('writer/src/main.ts', { name: 'writer-a', env: testEnvVars(env, { ...knobs, SLUICE_FAILPOINTS: 'before-commit=150' }), ready: /writer started/ });
    await eventually(async () => expect((await leases(env, PARTITIONS)).filter((l) => l !== null)).toHaveLength(PARTITIONS), 5000);

    const keys = keysCovering(PARTITIONS, 3);
    // Load until a few rounds after the takeover, however long that takes.
    let stopAt = Number.POSITIVE_INFINITY;
    let round = 0;
    const load = producer.runWhile(keys, () => ++round <= stopAt, 15);
    b = await startWriter(testConfig(env, knobs), { log: quiet });
    await eventually(() => expect(b!.partitions()).toHaveLength(2), 8000);
    const aId = (await leases(env, PARTITIONS)).find((l) => l !== null && l.owner.includes(`:${a!.pid}:`))?.owner;
    expect(aId).toBeDefined();

    // A dies holding jobs (active in BullMQ, some in an open transaction).
    await eventually(async () => expect(await producer.active()).toBeGreaterThan(0));
    a.kill('SIGKILL');
    await a.exited;
    const killedAt = performance.now();
    await eventually(() => expect(b!.partitions()).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']), 10_000, 10);
    const takeoverMs = performance.now() - killedAt;
    // Lease expiry + one check, plus the fence and the hand-back of A's jobs.
    expect(takeoverMs).toBeLessThan(TTL + RENEW + 1500);

    stopAt = round + 5;
    await load;
    await eventually(async () => expect(await producer.backlog()).toBe(0), 20_000);
    expect(await producer.failed()).toBe(0);
    await expectKvSound(env, producer);
    // Every lease is b's now, with tokens newer than a's.
    const now = await leases(env, PARTITIONS);
    expect(now.every((l) => l !== null && l.owner !== aId)).toBe(true);
    console.info(`[partitions] SIGKILL takeover: b owned all ${PARTITIONS} partitions ${Math.round(takeoverMs)} ms after the kill (lease TTL ${TTL} ms, renew ${RENEW} ms)`);
  });
});

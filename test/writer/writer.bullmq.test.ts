/**
 * The writer as a whole, in-process, against real Redis and BullMQ: jobs
 * added with Queue.addBulk (as the gateway does) are committed, outcomes are
 * published on the ack channel, unreadable payloads fail through BullMQ, and
 * stop() commits the open batch before returning.
 */
import { createRedis, type RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { subscribeTo } from '@sluice/shared/redis/pubsub.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PartitionLog } from '@sluice/shared/partition-log/partition-log.ts';
import { ackChannel, type WriteJob, type WriteOutcome } from '@sluice/shared/queue/contract.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { logsOf, part } from '../harness/partitions.ts';
import { ins, nextJobId, payload, quiet, rows, SCHEMA, TABLES, ups, type Req } from './helpers.ts';

let env: TestEnv;
let writer: Writer | undefined;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
});
afterEach(async () => {
  await writer?.stop();
  writer = undefined;
});
afterAll(async () => env?.cleanup());

function queue(p: number): PartitionLog {
  return logsOf(env).get(part(p));
}

/** Waiting, active and failed jobs of partition `p`. */
async function states(p: number): Promise<{ wait: number; active: number; failed: number }> {
  const c = await queue(p).counts();
  return { wait: c.waiting, active: c.active, failed: c.failed };
}

/** Add jobs the way the gateway does: explicit job ids, removeOnComplete. */
async function addJobs(p: number, jobs: Req[][]): Promise<string[]> {
  const ids = jobs.map(() => nextJobId(p));
  await queue(p).append(jobs.map((reqs, i) => ({ id: ids[i]!, data: payload(ids[i]!, reqs) })));
  return ids;
}

async function subscribe(node: string): Promise<{ outcomes: WriteOutcome[]; sub: Redis }> {
  // The gateway's kind of subscriber (sharded pub/sub on a Redis Cluster).
  const sub = createRedis({ url: env.redisUrl, role: 'subscriber', timeoutMs: 2000, name: `test-acks-${node}` });
  const outcomes: WriteOutcome[] = [];
  await subscribeTo(sub, ackChannel(env.prefix, node), (message) => outcomes.push(...(JSON.parse(message) as WriteOutcome[])));
  return { outcomes, sub };
}

const config = (overrides: Record<string, string> = {}) =>
  testConfig(env, { SLUICE_TABLES: TABLES.join(','), SLUICE_PARTITIONS: '2', SLUICE_BATCH_LINGER_MS: '10', ...overrides });

describe('writer with BullMQ', () => {
  it('drains jobs from every partition, commits them and publishes outcomes on the ack channel', async () => {
    const { outcomes, sub } = await subscribe('gw-1');
    const port = await freePort();
    writer = await startWriter(config({ SLUICE_WRITER_METRICS_PORT: String(port) }), { log: quiet });
    expect(writer.partitions()).toEqual(['main.1.0', 'main.1.1']);

    const perPartition = (p: number) => Array.from({ length: 20 }, (_, j) => Array.from({ length: 10 }, (_, r) => ins('events', { kind: `rt-${p}-${j}-${r}` }, { ack: 'gw-1', ret: true })));
    await Promise.all([addJobs(0, perPartition(0)), addJobs(1, perPartition(1))]);
    await addJobs(0, [[ups('counters', { name: 'rt', value: '1' })], [ups('counters', { name: 'rt', value: '2' }, { ack: 'gw-1' })]]);

    await eventually(async () => expect(await rows(env, `SELECT count(*)::int AS n FROM events WHERE kind LIKE 'rt-%'`)).toEqual([{ n: 400 }]), 20_000);
    await eventually(() => expect(outcomes).toHaveLength(401), 10_000);
    expect(outcomes.every((o) => o.s === 'committed' && /^[0-9A-F]+\/[0-9A-F]+$/.test(o.lsn))).toBe(true);
    expect(outcomes.filter((o) => o.s === 'committed' && o.keys?.[0] !== undefined && o.keys[0] !== null)).toHaveLength(400);
    expect(await rows(env, `SELECT value FROM counters WHERE name = 'rt'`)).toEqual([{ value: '2' }]);

    // Jobs are done (and removed), none failed; far fewer transactions than requests.
    for (const p of [0, 1]) await eventually(async () => expect(await states(p)).toEqual({ wait: 0, active: 0, failed: 0 }));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^sluice_writer_rows_committed_total 402$/m);
    const batches = [...metrics.matchAll(/^sluice_writer_batches_total\{partition="main\.1\.\d"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(42);
    await sub.quit();
  });

  it('fails a malformed payload through the log and keeps it; leaves a newer version queued for a newer writer (docs/PAYLOAD.md)', async () => {
    writer = await startWriter(config(), { log: quiet });
    const bad = nextJobId(1);
    await queue(1).append([{ id: bad, data: { v: 0, reqs: [] } as unknown as WriteJob }]);
    await eventually(async () => expect((await states(1)).failed).toBe(1));
    const [failed] = await queue(1).entries(['failed']);
    expect(failed).toMatchObject({ id: bad, failedReason: expect.stringMatching(/malformed payload/), attempts: 1 });

    // A version above what this writer reads is a write a newer writer will apply: never failed.
    const newer = nextJobId(0);
    await queue(0).append([{ id: newer, data: { v: 99, reqs: [] } as unknown as WriteJob }]);
    await eventually(async () => expect((await writer!.metrics.registry.getSingleMetricAsString('sluice_writer_newer_payloads_total'))).toMatch(/version="99"\} 1/));
    expect(await states(0)).toMatchObject({ failed: 0 });
    // Still in the log once its writer stopped (moved back to the head); gone before the next test.
    const w = writer;
    writer = undefined;
    await w.stop();
    expect(await queue(0).find(newer)).not.toBeNull();
    expect(await queue(0).remove(newer)).toBe(true);
  });

  it('stop() commits the open batch before it returns', async () => {
    // A fixed linger far longer than the test: only stop() can flush these jobs.
    writer = await startWriter(config({ SLUICE_BATCH_LINGER_MS: '10000', SLUICE_ADAPTIVE_LINGER: 'false' }), { log: quiet });
    await addJobs(0, [[ins('events', { kind: 'stop-1' })], [ins('events', { kind: 'stop-2' })], [ins('events', { kind: 'stop-3' })]]);
    await eventually(async () => expect((await states(0)).active).toBe(3));
    expect(await rows(env, `SELECT count(*)::int AS n FROM events WHERE kind LIKE 'stop-%'`)).toEqual([{ n: 0 }]);

    const w = writer;
    writer = undefined;
    await w.stop();
    expect(await rows(env, `SELECT count(*)::int AS n FROM events WHERE kind LIKE 'stop-%'`)).toEqual([{ n: 3 }]);
    expect(await states(0)).toEqual({ wait: 0, active: 0, failed: 0 });
    expect(w.stop()).toBe(w.stop());
  });
});

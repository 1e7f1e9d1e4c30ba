/**
 * RELIABILITY row 8: Redis out of memory with `maxmemory-policy noeviction`.
 * Enqueues fail (Redis refuses the write: OOM) and the gateway answers 503
 * with Retry-After; nothing already queued is evicted or damaged: once memory
 * is available again (here the operator raises maxmemory) a writer commits
 * every acknowledged write, and none of the refused ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { drainAndCheck, expectSound } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;
let admin: Redis;

beforeAll(async () => {
  cluster = await startCluster({ env: { SLUICE_MAX_QUEUE_DEPTH: '1000000' } });
  gateway = await cluster.startGateway();
  admin = new Redis(cluster.redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await cluster?.stop();
});

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);

describe('row 8: Redis out of memory (noeviction)', () => {
  it('refuses new writes with 503 and keeps every queued one intact', async () => {
    // Room for a few MB of jobs above what Redis uses now; no writer runs, so the queue only grows.
    await admin.config('SET', 'maxmemory', String((await usedMemory()) + 3 * 1024 * 1024));
    const load = startLoad({ urls: [gateway.url], clients: 8, upsertShare: 0.25, ackOf: () => 'queued', noteBytes: 2000 });
    await eventually(() => expect(load.history.count('failed')).toBeGreaterThan(50), 60_000);
    const history = await load.stop();

    const refused = history.ops.filter((o) => o.outcome === 'failed');
    expect(new Set(refused.map((o) => o.status))).toEqual(new Set([503]));
    for (const o of refused) expect(o.retryAfter).toMatch(/^\d+$/);
    expect(history.count('ok')).toBeGreaterThan(500);
    expect(history.count('unknown')).toBe(0);
    expect(((await admin.config('GET', 'maxmemory-policy')) as string[])[1]).toBe('noeviction');
    expect(Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))?.[1])).toBe(0);

    // The operator frees memory; a writer drains what was queued.
    await admin.config('SET', 'maxmemory', '0');
    await cluster.startWriter();
    const verdict = await drainAndCheck(cluster, history);
    // OOM is refused before the script runs: a 503 here is a definite "not applied".
    expectSound(verdict);
    console.info(`[row 8] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, refused: verdict.failed, committed: verdict.committed })}`);
  });
});

/**
 * RELIABILITY row 15: writer A dies (SIGKILL) under load; writer B takes its
 * partitions within the documented bound (partition leases: one consumer per
 * partition), and per-key order holds across the handover.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

/** Takeover bound this suite holds the writers to (README, "What can fail"); lock 2 s in these tests. */
const TAKEOVER_BOUND_MS = 10_000;

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster({ env: { SLUICE_PARTITIONS: '8' } });
  gateway = await cluster.startGateway();
});
afterAll(async () => cluster?.stop());

describe('row 15: writer A dies, writer B takes its partitions', () => {
  it('takes over within the bound and keeps per-key order', async () => {
    const a = await cluster.startWriter('writer-a');
    await cluster.startWriter('writer-b');
    const load = startLoad({ urls: [gateway.url], clients: 16, paceMs: 5, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(400), 30_000);

    a.kill('SIGKILL');
    const killedAt = performance.now();
    const ackedAtKill = load.acknowledged;
    // Load goes on through the takeover, then a while after it.
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(ackedAtKill + 600), 60_000);
    const history = await load.stop();
    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);

    // Takeover time as the clients saw it: the slowest `committed` answer to a write sent in the second after the kill.
    const probes = history.ops.filter((o) => o.ack === 'committed' && o.start >= killedAt && o.start < killedAt + 1000 && o.status === 201);
    expect(probes.length).toBeGreaterThan(0);
    const takeoverMs = Math.max(...probes.map((o) => o.end - killedAt));
    expect(takeoverMs).toBeLessThan(TAKEOVER_BOUND_MS);
    console.info(`[row 15] ${JSON.stringify({ takeoverMs: Math.round(takeoverMs), acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

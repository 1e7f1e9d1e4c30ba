/**
 * RELIABILITY row 3: SIGTERM to a writer under load drains it: the open batch
 * commits, every job it held is marked done, its partitions are released, and
 * it exits 0 — so no job is left active to stall. Clients keep writing while
 * it drains and while no writer runs; a second writer then takes over, and
 * the set checker finds every acknowledged write exactly once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound, logged } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster();
  gateway = await cluster.startGateway();
});
afterAll(async () => cluster?.stop());

describe('row 3: writer SIGTERM under load', () => {
  it('commits the open batch, leaves zero active (stallable) jobs, and loses nothing', async () => {
    const first = await cluster.startWriter('writer-a');
    const load = startLoad({ urls: [gateway.url], clients: 12, paceMs: 2, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(300), 30_000);

    const code = await first.stop(30_000); // SIGTERM; SIGKILL only if the drain overran 30 s
    expect(code).toBe(0);
    expect(logged(first.output(), 'writer stopped')).toBe(true);
    // Nothing held by the stopped writer: no job can stall and be redelivered.
    expect((await cluster.jobCounts()).active).toBe(0);

    // Clients keep writing into the queue while no writer runs.
    const ackedAtStop = load.acknowledged;
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(ackedAtStop + 50), 30_000);
    const second = await cluster.startWriter('writer-b');
    await eventually(async () => expect(await cluster.backlog()).toBeLessThan(5), 30_000);
    const history = await load.stop();

    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);
    expect(await cluster.queueEvents('stalled'), 'jobs stalled').toBe(0);
    expect(logged(second.output(), "handed a dead writer's jobs back to the queue, in order")).toBe(false);
    console.info(`[row 3] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

/**
 * RELIABILITY row 35: SLUICE_PARTITIONS changed while writes are queued.
 * A changed count opens a new layout epoch (shared/src/topology/shard-map.ts):
 * gateways route new writes to it at once, writers finish the old epoch's
 * queues first, and the old epoch closes once drained and no gateway routes
 * with it. Before this, going down lost the writes queued in the partitions
 * that no longer existed, and going up reordered keys that moved.
 *
 * Every run logs each client op and checks with the set checker: nothing
 * acknowledged lost, nothing applied twice, per-key order kept (a key's next
 * value is sent only after its previous one was acknowledged).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster } from './support/cluster.ts';
import { startLoad } from './support/load.ts';
import { type History } from './support/history.ts';

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const merge = (a: History, b: History) => {
  for (const op of b.ops) a.add(op);
  return a;
};

/** Acknowledged upserts queued with no writer running, under `from` partitions; then everything restarted with `to`. */
async function queuedThenRestarted(from: number, to: number): Promise<void> {
  const c = (cluster = await startCluster({ env: { SLUICE_PARTITIONS: String(from) } }));
  const old = await c.startGateway();
  const ROUNDS = 25;
  // Only upserts of each client's 4 keys, `queued`: 16 × 100 acknowledged writes sit in Redis.
  const first = await startLoad({ urls: [old.url], clients: 16, keysPerClient: 4, upsertShare: 1, ackOf: () => 'queued', opsPerClient: ROUNDS * 4 }).done();
  expect(first.count('ok')).toBe(16 * ROUNDS * 4);
  await old.proc.stop();
  expect(await c.backlog()).toBeGreaterThan(0);

  await c.startWriter('writer', { SLUICE_PARTITIONS: String(to) });
  const gw = await c.startGateway({ SLUICE_PARTITIONS: String(to) });
  // The same keys again, values continuing: each must land after the queued ones.
  const second = await startLoad({ urls: [gw.url], clients: 16, keysPerClient: 4, upsertShare: 1, opsPerClient: 40, valuesFrom: ROUNDS }).done();
  const verdict = await drainAndCheck(c, merge(first, second));
  expectSound(verdict);
  expect(verdict.unknown).toBe(0);
  // The old layout drained and closed; the writers consume the new one.
  await eventually(async () => expect((await c.shardMap())!.openEpochs('main').map((e) => e.partitions)).toEqual([to]), 15_000);
  console.info(`[row 35] ${from} → ${to} with writes queued: ${JSON.stringify({ acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
}

describe('row 35: SLUICE_PARTITIONS changed while writes are queued', () => {
  it('going down (8 → 4): nothing lost (the old 8 queues drain first), per-key order kept', () => queuedThenRestarted(8, 4));

  it('going up (4 → 8): keys that move to another partition keep their order', () => queuedThenRestarted(4, 8));

  it('going up online: a gateway started with 8 while a gateway and a writer run with 4, under load', async () => {
    const c = (cluster = await startCluster({ env: { SLUICE_PARTITIONS: '4' } }));
    await c.startWriter();
    const a = await c.startGateway();
    const load = startLoad({ urls: [a.url], clients: 16, keysPerClient: 4, upsertShare: 0.75, paceMs: 2, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(400), 30_000);
    // A new gateway with another count: the map gets an epoch of 8, every process follows.
    const b = await c.startGateway({ SLUICE_PARTITIONS: '8' }, 'gateway-b');
    load.retarget([a.url, b.url]);
    const at = load.acknowledged;
    await eventually(async () => expect((await c.shardMap())!.openEpochs('main').map((e) => e.partitions)).toEqual([8]), 30_000);
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(at + 800), 60_000);
    const verdict = await drainAndCheck(c, await load.stop());
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);
    console.info(`[row 35] 4 → 8 online: ${JSON.stringify({ acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

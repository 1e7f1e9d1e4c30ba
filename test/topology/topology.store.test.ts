/**
 * The shard map in Postgres: the first start stores it, every process adopts
 * the latest version, changes are compare-and-set on the version (two racing
 * proposals both land, one after the other), watchers see new versions in
 * order, a changed SLUICE_PARTITIONS opens a new epoch, and a drained epoch
 * closes only once the gateways have moved on and its queues are empty.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { legacyBacklog } from '@sluice/shared/partition-log/legacy.ts';
import { closeDrainedEpochs, whyOpen } from '@sluice/shared/topology/epochs.ts';
import { GatewayBeat, liveGateways } from '@sluice/shared/topology/fleet.ts';
import type { ShardMap } from '@sluice/shared/topology/shard-map.ts';
import { Topology } from '@sluice/shared/topology/topology.ts';
import { createTestEnv, eventually, type TestEnv } from '../harness/index.ts';

const log = createLogger('topology-test', 'silent');
let env: TestEnv;
const open: Topology[] = [];

function topology(partitions: number, pollMs = 50): Topology {
  const t = new Topology({ shards: [{ name: 'main', url: env.databaseUrl, replicas: [] }], partitions, pool: { max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName: 'topology-test' }, pollMs, log });
  open.push(t);
  return t;
}

beforeEach(async () => {
  env = await createTestEnv();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  await env.cleanup();
});

const versions = async () => (await env.pool.query<{ version: string; reason: string }>('SELECT version, reason FROM sluice.topology ORDER BY version')).rows.map((r) => [Number(r.version), r.reason]);

describe('topology store', () => {
  it('the first start stores version 1; later starts with the same config adopt it', async () => {
    const a = await topology(4).start();
    const b = await topology(4).start();
    expect([a.version, b.version]).toEqual([1, 1]);
    expect(await versions()).toEqual([[1, 'first start']]);
    expect(b.routable('main')).toHaveLength(4);
  });

  it('racing proposals are serialised by the version compare-and-set; watchers see each version in order', async () => {
    const a = topology(2);
    const b = topology(2);
    await a.start();
    await b.start();
    const seen: [number, number][] = [];
    const watcher = topology(2, 20);
    await watcher.start();
    watcher.onChange((next: ShardMap, prev: ShardMap) => void seen.push([prev.version, next.version]));
    await Promise.all([
      a.propose((m) => m.withPartitions('main', 3, m.version + 1), 'a'),
      b.propose((m) => m.withPartitions('main', 5, m.version + 1), 'b'),
    ]);
    expect((await versions()).map(([v]) => v)).toEqual([1, 2, 3]);
    // Both changes landed: three epochs, whichever order the race chose.
    await eventually(() => expect(watcher.map.version).toBe(3));
    expect(watcher.map.openEpochs('main').map((e) => e.partitions).slice(1).sort()).toEqual([3, 5]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBe(seen[i - 1]![1]);
    expect(seen.at(-1)![1]).toBe(3);
  });

  it('a start with another SLUICE_PARTITIONS opens a new epoch (once, however many start with it)', async () => {
    await topology(4).start();
    const [x, y] = await Promise.all([topology(8).start(), topology(8).start()]);
    const latest = await topology(8).start();
    expect(latest.version).toBe(2);
    expect(latest.openEpochs('main').map((e) => [e.epoch, e.partitions])).toEqual([[1, 4], [2, 8]]);
    expect([x.version, y.version].every((v) => v >= 1)).toBe(true);
  });

  it('closes a drained epoch only when every live gateway routes with the new map and its queues are empty', async () => {
    const t = topology(2);
    await t.start();
    const logs = new PartitionLogs(env.redis, env.prefix);
    const old = t.map.routable('main');
    // A gateway still routing with version 1 appends a job to the old layout.
    const beat = new GatewayBeat(env.redis, env.prefix, 'gw1', 5000);
    await beat.beat(1);
    await logs.get(old[1]!).append([{ id: 'main.1.1.gw1.0', data: { v: 1, reqs: [] } }]);
    await t.propose((m) => m.withPartitions('main', 3, m.version + 1), 'resize');
    const d = { topology: t, log, backlog: async (r: (typeof old)[number]) => (await logs.get(r).counts()).backlog, gateways: () => liveGateways(env.redis, env.prefix) };

    expect(await whyOpen(d, t.map, 'main')).toMatch(/gateways still routing with an older map: gw1@1/);
    await beat.beat(2);
    expect(await whyOpen(d, t.map, 'main')).toBe('1 jobs still queued');
    await closeDrainedEpochs(d);
    expect(t.map.openEpochs('main')).toHaveLength(2);
    await logs.get(old[1]!).remove('main.1.1.gw1.0');
    await closeDrainedEpochs(d);
    expect(t.map.openEpochs('main').map((e) => e.epoch)).toEqual([2]);
    expect(t.map.consumable().map((r) => r.name)).toEqual(['main.2.0', 'main.2.1', 'main.2.2']);
    // A gateway that leaves no longer holds anything open.
    await beat.leave();
    expect(await liveGateways(env.redis, env.prefix)).toEqual(new Map());
    await logs.close();
  });

  it('counts jobs still queued under the old partition naming (the first start refuses over them)', async () => {
    expect(await legacyBacklog(env.redis, env.prefix)).toBe(0);
    await env.redis.lpush(`${env.prefix}:{p0}:wait`, 'job-a', 'job-b');
    await env.redis.zadd(`${env.prefix}:{p3}:delayed`, 1, 'job-c');
    await env.redis.lpush(`${env.prefix}:{main.1.0}:wait`, 'not-legacy');
    expect(await legacyBacklog(env.redis, env.prefix)).toBe(3);
    const t = topology(2);
    await expect(t.start({ beforeFirstMap: async () => { throw new Error('refused'); } })).rejects.toThrow('refused');
    expect(await versions()).toEqual([]);
  });
});

/**
 * Regression: a gateway whose start-up re-read of the shard map found a newer
 * version (stored between its first read and its registration, as at a
 * move's cutover) never finished starting. The re-read adopts the new map,
 * adopting waits for the map listeners, and the gateway's listener re-read
 * the map again, waiting for the adoption in progress. Seen in CI as
 * "gateway-c not ready within 60000 ms" in test/faults/shards.move.
 * Real Postgres (the map store) and Redis (the fleet registry).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@sluice/shared/config/index.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { GatewayBeat, liveGateways } from '@sluice/shared/topology/fleet.ts';
import { Topology } from '@sluice/shared/topology/topology.ts';
import { Coalescer } from '@sluice/gateway/enqueue/coalescer.ts';
import { MapFollower } from '@sluice/gateway/enqueue/map-follower.ts';
import { GatewayMetrics } from '@sluice/gateway/metrics/index.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';

const log = createLogger('map-follower-test', 'silent');
let env: TestEnv;
const open: Topology[] = [];

function topology(): Topology {
  const t = new Topology({ shards: [{ name: 'main', url: env.databaseUrl, replicas: [] }], partitions: 2, pool: { max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 5000, applicationName: 'map-follower-test' }, pollMs: 60_000, log });
  open.push(t);
  return t;
}

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  await env?.cleanup();
});

describe('gateway map follower', () => {
  it('starts when a newer map was stored after the gateway read its first one, and reports that version', async () => {
    const gateway = topology();
    await gateway.start();
    expect(gateway.map.version).toBe(1);
    // Another process (a mover, an operator) stores version 2 before this gateway registers.
    const other = topology();
    await other.start();
    await other.propose((m) => m.withPartitions('main', 3, m.version + 1), 'resize while a gateway starts');

    const logs = new PartitionLogs(env.redis, env.prefix);
    const coalescer = new Coalescer(logs, { nodeId: 'gw-start', lingerMs: 0, maxRequests: 10, secret: 'test-secret', metrics: new GatewayMetrics(loadConfig({ DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl }), false), log });
    const follower = new MapFollower(gateway, coalescer, new GatewayBeat(env.redis, env.prefix, 'gw-start', 5000), 60_000, log);
    const started = await Promise.race([follower.start().then(() => 'started'), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(started).toBe('started');
    expect(follower.registered).toBe(true);
    expect(gateway.map.version).toBe(2);
    expect(await liveGateways(env.redis, env.prefix)).toEqual(new Map([['gw-start', 2]]));
    await follower.stop();
    await logs.close();
  }, 60_000);
});

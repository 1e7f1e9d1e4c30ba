/**
 * GET /livez, the load balancer's check (issue 11, findings 1–2): it says
 * "this gateway can accept writes" and nothing more. It must stay 200 while
 * Postgres is unreachable or the backlog is over its limit (the queue exists
 * to ride out a slow primary; /readyz reports those), and turn 503
 * problem+json with Retry-After when the producer Redis is down or the
 * gateway is draining. From drain() on, /readyz says "draining" too, while
 * writes are still accepted (the grace period for in-flight and LB-retried requests).
 */
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { newNodeId } from '@sluice/shared/queue/ids.ts';
import { createRedis, type RedisClient } from '@sluice/shared/redis/connections.ts';
import { quoteIdent } from '@sluice/shared/sql/ident.ts';
import { topologyOf } from '@sluice/shared/topology/from-config.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { createApp, type Gateway } from '@sluice/gateway/app.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { adminPool } from '../harness/template.ts';
import { GATEWAY_SQL, json, startGateway, type TestGateway } from './support.ts';

const open: TestGateway[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

async function gateway(o: Parameters<typeof startGateway>[0] = {}): Promise<TestGateway> {
  const t = await startGateway(o);
  open.push(t);
  return t;
}

describe('/livez: can this gateway accept writes?', () => {
  it('answers 200 live when Redis is connected', async () => {
    const t = await gateway();
    const res = await t.request('/livez');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'live', node: t.nodeId });
  });

  it('answers 503 problem+json with Retry-After while its producer Redis is not connected', async () => {
    const t = await gateway({ producerUrl: `redis://127.0.0.1:${await freePort()}` });
    const res = await t.request('/livez');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await json(res)).toMatchObject({ type: 'https://sluice.dev/problems/not-live', status: 503, node: t.nodeId, detail: expect.stringMatching(/Redis connection/) });
  });

  it('after drain(), /livez and /readyz answer 503 "draining" while writes are still accepted', async () => {
    const t = await gateway();
    expect((await t.request('/readyz')).status).toBe(200);
    t.gw.drain();
    for (const path of ['/livez', '/readyz']) {
      const res = await t.request(path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await json(res)).toMatchObject({ type: 'https://sluice.dev/problems/draining', title: 'Draining', node: t.nodeId });
    }
    expect((await t.post('/v1/tables/events', { kind: 'late', amount: 1 })).status).toBe(202);
  });
});

describe('/livez never judges Postgres or the backlog', () => {
  let env: TestEnv;
  let gw: Gateway;
  const conns: RedisClient[] = [];
  let topology: Topology | undefined;
  afterAll(async () => {
    await gw?.close();
    await topology?.close();
    for (const c of conns) c.disconnect();
    await env?.cleanup();
  });

  it('stays 200 while Postgres is unreachable and the backlog is over SLUICE_MAX_QUEUE_DEPTH; /readyz reports both', async () => {
    env = await createTestEnv({ sql: GATEWAY_SQL });
    const config = testConfig(env, { SLUICE_TABLES: 'events', SLUICE_PARTITIONS: '1', SLUICE_MAX_QUEUE_DEPTH: '1', SLUICE_ENQUEUE_LINGER_MS: '0', SLUICE_PG_CONNECT_TIMEOUT_MS: '500' });
    const log = createLogger('test-livez', 'silent');
    const catalog = await introspectCatalog(env.pool, config.SLUICE_TABLES);
    topology = topologyOf({ ...config, SLUICE_STATEMENT_TIMEOUT_MS: 1000 }, log, 'livez-test');
    await topology.start();
    const nodeId = newNodeId();
    const [producer, subscriber, cache] = (['producer', 'subscriber', 'cache'] as const).map((role) => createRedis({ url: env.redisUrl, role, timeoutMs: 2000, name: `livez-${role}-${nodeId}` }));
    conns.push(producer!, subscriber!, cache!);
    gw = createApp({ config, log, topology, catalog, nodeId, producer: producer!, subscriber: subscriber!, cache: cache!, processMetrics: false });
    await eventually(() => expect(producer!.status).toBe('ready'));
    await gw.start();
    // Postgres now refuses this gateway: its connections are cut and no new one is allowed.
    const admin = adminPool(inject('sluiceDatabaseUrl'));
    try {
      await admin.query(`ALTER DATABASE ${quoteIdent(new URL(env.databaseUrl).pathname.slice(1))} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'livez-test%'`);
    } finally {
      await admin.end();
    }

    // No writer runs: each accepted write stays queued until the backlog is over the limit.
    await eventually(async () => {
      await gw.app.request('/v1/tables/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"b","amount":1}' });
      const ready = await gw.app.request('/readyz');
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { checks: Record<string, string> };
      expect(body.checks.postgres).not.toBe('ok');
      expect(body.checks.backlog).toMatch(/> SLUICE_MAX_QUEUE_DEPTH 1/);
    }, 15_000, 250);
    const live = await gw.app.request('/livez');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'live', node: nodeId });
  });
});

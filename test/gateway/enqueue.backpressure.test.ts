/**
 * RELIABILITY row 7 and the backpressure guarantee: Redis down, frozen or
 * behind → 503 with Retry-After, fast, and nothing acknowledged.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
import { eventually } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from './support.ts';

const row = (i: number) => ({ kind: 'bp', amount: i });

async function expect503(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
}

describe('enqueue: backpressure and Redis failures', () => {
  const open: TestGateway[] = [];
  const servers: LocalRedis[] = [];
  afterAll(async () => {
    for (const r of servers) r.kill('SIGCONT');
    for (const t of open) await t.close();
    for (const r of servers) await r.destroy();
  });

  it('producer Redis unreachable (closed port) → 503 + Retry-After at once; readiness says why', async () => {
    const t = await startGateway({ producerUrl: `redis://127.0.0.1:${await freePort()}` });
    open.push(t);
    const started = Date.now();
    await expect503(await t.post('/v1/tables/events', row(1)));
    await expect503(await t.post('/v1/tables/events', row(2), { 'sluice-ack': 'committed', 'idempotency-key': 'k' }));
    expect(Date.now() - started).toBeLessThan(1000);
    const ready = await t.request('/readyz');
    expect(ready.status).toBe(503);
    expect((await json(ready)).checks.redis).not.toBe('ok');
  });

  it('Redis killed mid-run → 503 fast; after its restart writes are accepted again', async () => {
    const redis = await startRedis();
    servers.push(redis);
    const t = await startGateway({ producerUrl: redis.url, env: { SLUICE_REDIS_TIMEOUT_MS: '500' } });
    open.push(t);
    await eventually(() => expect(t.producer.status).toBe('ready'));
    expect((await t.post('/v1/tables/events', row(1))).status).toBe(202);
    redis.kill('SIGKILL');
    await eventually(() => expect(t.producer.status).not.toBe('ready'));
    const started = Date.now();
    await expect503(await t.post('/v1/tables/events', row(2)));
    expect(Date.now() - started).toBeLessThan(500);
    await redis.start();
    await eventually(async () => expect((await t.post('/v1/tables/events', row(3))).status).toBe(202), 10_000);
  });

  it('Redis frozen (SIGSTOP) → every request of the stuck job gets 503 within SLUICE_REDIS_TIMEOUT_MS; none is acknowledged', async () => {
    const redis = await startRedis();
    servers.push(redis);
    const t = await startGateway({ producerUrl: redis.url, env: { SLUICE_REDIS_TIMEOUT_MS: '500', SLUICE_ENQUEUE_LINGER_MS: '20' } });
    open.push(t);
    await eventually(() => expect(t.producer.status).toBe('ready'));
    redis.kill('SIGSTOP');
    try {
      const started = Date.now();
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => t.post('/v1/tables/events', row(i))));
      const took = Date.now() - started;
      for (const res of responses) await expect503(res);
      expect(took).toBeLessThan(500 + 1500);
    } finally {
      redis.kill('SIGCONT');
    }
    await eventually(async () => expect((await t.post('/v1/tables/events', row(99))).status).toBe(202), 10_000);
  });

  it('backlog above SLUICE_MAX_QUEUE_DEPTH (cached poll, no Redis call per request) → 503 until it drains', async () => {
    const t = await startGateway({ env: { SLUICE_MAX_QUEUE_DEPTH: '3', SLUICE_ENQUEUE_LINGER_MS: '0' } });
    open.push(t);
    for (let i = 0; i < 4; i++) expect((await t.post('/v1/tables/events', row(i))).status).toBe(202);
    // The poll (every 250 ms) notices; requests in between are still admitted by design.
    await eventually(async () => expect(await (await t.request('/metrics')).text()).toMatch(/^sluice_queue_backlog_jobs 4$/m));
    await expect503(await t.post('/v1/tables/events', row(9)));
    expect(await t.backlog()).toBe(4);
    expect(await (await t.request('/metrics')).text()).toMatch(/sluice_writes_rejected_total\{reason="backlog"\} 1/);
    // A writer drains the queue: accepted again.
    for (const r of t.topology.map.live()) await t.gw.logs.get(r).destroy();
    await eventually(async () => expect((await t.post('/v1/tables/events', row(10))).status).toBe(202));
  });

  it('more than SLUICE_MAX_PENDING_REQUESTS in memory (here: waiting for commits) → 503', async () => {
    const t = await startGateway({ env: { SLUICE_MAX_PENDING_REQUESTS: '2', SLUICE_COMMIT_WAIT_MS: '3000' } });
    open.push(t);
    const waiting = [t.post('/v1/tables/events', row(1), { 'sluice-ack': 'committed' }), t.post('/v1/tables/events', row(2), { 'sluice-ack': 'committed' })];
    await eventually(async () => expect(await t.backlog()).toBeGreaterThan(0));
    await expect503(await t.post('/v1/tables/events', row(3)));
    for (const res of await Promise.all(waiting)) expect(res.status).toBe(504);
  });
});

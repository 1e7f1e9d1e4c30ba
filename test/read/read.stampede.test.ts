/**
 * RELIABILITY row 17: 500 concurrent GETs of a cold key over three gateway
 * read services sharing one Redis cost one database read; a lease holder that
 * never comes back (hung on its read) frees the key when its lease expires and
 * another node loads it; and its late fill cannot overwrite a newer
 * write-through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Config } from '@sluice/shared/config/schema.ts';
import type { GatewayEnv } from '@sluice/gateway/context.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { catalogOf, committedWrite, ReadCounter, readApp, startReadService , type TestReadService } from './helpers.ts';

let env: TestEnv;
let catalog: Catalog;
let config: Readonly<Config>;
const services: TestReadService[] = [];

beforeAll(async () => {
  env = await createTestEnv({ sql: "CREATE TABLE hot (id int PRIMARY KEY, v text); INSERT INTO hot SELECT i, 'v1' FROM generate_series(1, 10) i" });
  catalog = await catalogOf(env.pool, ['hot']);
  config = testConfig(env, { SLUICE_TABLES: 'hot', SLUICE_CACHE_LEASE_MS: '400', SLUICE_STAMPEDE_WAIT_MS: '10000' });
});

afterAll(async () => {
  await Promise.allSettled(services.map((s) => s.stop()));
  await env?.cleanup();
});

async function node(counter: ReadCounter): Promise<{ service: TestReadService; app: Hono<GatewayEnv> }> {
  const service = await startReadService(config, env.pool, catalog, counter);
  services.push(service);
  return { service, app: readApp(service) };
}

describe('stampede on a cold key (RELIABILITY 17)', () => {
  it('500 concurrent GETs over 3 nodes read the database once', async () => {
    const counters = [new ReadCounter(), new ReadCounter(), new ReadCounter()];
    const nodes = await Promise.all(counters.map(node));
    // Hold the first read so every request is in flight before it can fill.
    for (const c of counters) c.hold();
    const responses = Array.from({ length: 500 }, (_, i) => nodes[i % 3]!.app.request('/v1/tables/hot/1'));
    await eventually(() => expect(counters.reduce((n, c) => n + c.held, 0)).toBe(1));
    for (const c of counters) c.release();
    const done = await Promise.all(responses);
    const bodies = await Promise.all(done.map((r) => r.json() as Promise<{ v: string }>));
    expect(done.every((r) => r.status === 200)).toBe(true);
    expect(bodies.every((b) => b.v === 'v1')).toBe(true);
    expect(counters.reduce((n, c) => n + c.total, 0)).toBe(1);
    const sources = new Set(done.map((r) => r.headers.get('sluice-source')));
    expect([...sources].sort()).toEqual(['cache', 'primary']);
    const waited = await Promise.all(nodes.map(async (n) => (await n.service.metrics.waits.get()).values.reduce((s, v) => s + v.value, 0)));
    expect(waited.filter((w) => w > 0).length).toBeGreaterThanOrEqual(2); // the other two nodes waited for the fill
  });

  it('without any holding, each cold key is read once however the 3 nodes interleave', async () => {
    const counters = [new ReadCounter(), new ReadCounter(), new ReadCounter()];
    const nodes = await Promise.all(counters.map(node));
    for (const id of [4, 5, 6, 7, 8]) {
      const before = counters.reduce((n, c) => n + c.total, 0);
      const done = await Promise.all(Array.from({ length: 300 }, (_, i) => nodes[i % 3]!.app.request(`/v1/tables/hot/${id}`)));
      expect(done.every((r) => r.status === 200)).toBe(true);
      expect(counters.reduce((n, c) => n + c.total, 0) - before).toBe(1);
    }
  });

  it('a lease holder that never returns frees the key by TTL; another node loads once; its late fill loses to a newer write', async () => {
    const [hung, b, c] = [new ReadCounter(), new ReadCounter(), new ReadCounter()];
    const [nodeA, nodeB, nodeC] = await Promise.all([hung, b, c].map(node));
    hung.hold(); // node A reads the old row, then hangs before filling (a frozen or dead holder)
    const stuck = nodeA!.service.getRow(nodeA!.service.tables.get('hot')!, ['2']);
    await eventually(() => expect(hung.held).toBe(1));
    const k = nodeA!.service.store.keys('hot', ['2']);
    expect(await env.redis.pttl(k.lease)).toBeGreaterThan(0);

    const started = Date.now();
    const others = Array.from({ length: 100 }, (_, i) => (i % 2 ? nodeB : nodeC)!.app.request('/v1/tables/hot/2'));
    const answers = await Promise.all(others);
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300); // they waited for the lease to expire (400 ms)
    expect(b.total + c.total).toBe(1);

    // A write commits and is written through; then the hung holder wakes with its old row.
    await committedWrite(env.pool, 'UPDATE hot AS r SET v = $2 WHERE id = $1 RETURNING row_to_json(r.*)::text AS j, r.id::text AS k', ['2', 'v2'], { redis: env.redis, catalog, prefix: env.prefix, table: 'hot' });
    hung.release();
    const late = await stuck;
    expect(JSON.parse(late.row!)).toEqual({ id: 2, v: 'v2' }); // its fill lost; it answered with the newer entry
    for (const n of [nodeA!, nodeB!, nodeC!]) {
      const res = await n.app.request('/v1/tables/hot/2');
      expect(await res.json()).toEqual({ id: 2, v: 'v2' });
      expect(res.headers.get('sluice-source')).toBe('cache');
    }
  });

  it('waiting is bounded: with the holder hung and a lease longer than the wait, readers read the database themselves', async () => {
    const short = testConfig(env, { SLUICE_TABLES: 'hot', SLUICE_CACHE_LEASE_MS: '60000', SLUICE_STAMPEDE_WAIT_MS: '200' });
    const hung = new ReadCounter();
    const other = new ReadCounter();
    const a = await startReadService(short, env.pool, catalog, hung);
    const b = await startReadService(short, env.pool, catalog, other);
    services.push(a, b);
    hung.hold();
    const stuck = a.getRow(a.tables.get('hot')!, ['3']);
    await eventually(() => expect(hung.held).toBe(1));
    const started = Date.now();
    const r = await b.getRow(b.tables.get('hot')!, ['3']);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.source).toBe('primary');
    expect(other.total).toBe(1);
    hung.release();
    await stuck;
  });
});

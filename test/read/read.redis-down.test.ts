/**
 * The cache Redis is down: reads still answer, from the database, and say so
 * (`Cache-Status: sluice; fwd=bypass`, lookups counted as `error`); a
 * multi-get's keys still share one query. When Redis is back, reads fill and
 * hit the cache again without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '@sluice/shared/redis/connections.ts';
import { type Catalog } from '@sluice/shared/catalog/types.ts';
import { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { catalogOf, readApp, ReadCounter, startReadService , type TestReadService } from './helpers.ts';

let env: TestEnv;
let catalog: Catalog;
let redis: LocalRedis;
let cache: RedisClient;
let service: TestReadService;
const reads = new ReadCounter();
const nameOf = (row: string | null) => (row === null ? null : (JSON.parse(row) as { name: string }).name);

beforeAll(async () => {
  env = await createTestEnv({ sql: "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 20) i" });
  catalog = await catalogOf(env.pool, ['items']);
  redis = await startRedis();
  // The gateway's own kind of cache connection: no offline queue, so a down Redis fails a lookup at once.
  cache = createRedis({ url: redis.url, role: 'cache', timeoutMs: 500, name: 'test-cache' });
  cache.on('error', () => {});
  service = await startReadService(testConfig(env, { SLUICE_TABLES: 'items', SLUICE_POPULARITY_SAMPLE: '0' }), env.pool, catalog, reads, cache);
});

afterAll(async () => {
  await service?.stop();
  cache?.disconnect();
  await redis?.destroy();
  await env?.cleanup();
});

const lookups = async (result: string) => Number(/\d+$/.exec((await service.registry.getSingleMetricAsString('sluice_cache_lookups_total')).split('\n').find((l) => l.includes(`result="${result}"`)) ?? '0')?.[0] ?? 0);

describe('reads with the cache Redis down', () => {
  it('answer from the database, single and multi-get, and use the cache again once Redis is back', async () => {
    const items = service.tables.get('items')!;
    expect(await service.getRow(items, ['1'])).toMatchObject({ source: 'primary', status: 'miss' });
    expect(await service.getRow(items, ['1'])).toMatchObject({ source: 'cache', status: 'hit' });

    await redis.stop();
    await eventually(() => expect(cache.status).not.toBe('ready'));
    const before = { reads: reads.total, errors: await lookups('error') };
    const one = await service.getRow(items, ['2']);
    expect(one).toMatchObject({ source: 'primary', status: 'error' });
    expect(nameOf(one.row)).toBe('v2');
    const many = await service.getRows(items, [['3'], ['4'], ['999'], ['5']]);
    expect(many).toMatchObject({ source: 'primary' });
    expect(many.rows.map(nameOf)).toEqual(['v3', 'v4', null, 'v5']);
    expect(await lookups('error')).toBe(before.errors + 5);
    expect(reads.total - before.reads).toBe(2); // the multi-get's four keys in one query

    const res = await readApp(service).request('/v1/tables/items/6');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-status')).toBe('sluice; fwd=bypass');
    expect(await res.json()).toEqual({ id: 6, name: 'v6' });

    await redis.start();
    await eventually(() => expect(cache.status).toBe('ready'), 10_000);
    expect(await service.getRow(items, ['7'])).toMatchObject({ status: 'miss' });
    expect(await service.getRow(items, ['7'])).toMatchObject({ source: 'cache', status: 'hit' });
  });
});

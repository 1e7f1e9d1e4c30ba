/**
 * The cache warmer: popularity counted by the read path, hot keys refreshed
 * before their soft TTL, the hottest keys preloaded after a Redis flush, and
 * the `writer/src/warmer/main.ts` entry point starting and draining.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsProcess } from '@sluice/local-servers/processes.ts';
import { encodeEntry } from '@sluice/shared/read/cache/entry.ts';
import { hotKeysKey } from '@sluice/shared/read/cache/keys.ts';
import { PopularityCounter } from '@sluice/shared/read/cache/popularity.ts';
import { type ReadTable } from '@sluice/shared/read/tables.ts';
import { Redis, type RedisClient } from '@sluice/shared/redis/connections.ts';
import { type Catalog } from '@sluice/shared/catalog/types.ts';
import { type Config } from '@sluice/shared/config/schema.ts';
import { Warmer } from '@sluice/shared/read/warmer.ts';
import { createTestEnv, testConfig, testEnvVars, type TestEnv } from '../harness/index.ts';
import { readSettingsOf, warmerSettingsOf } from '@sluice/shared/read/settings.ts';
import { catalogOf, log, ReadCounter, startReadService , type TestReadService } from './helpers.ts';

let env: TestEnv;
let catalog: Catalog;
let config: Readonly<Config>;
let service: TestReadService;
let warmer: Warmer;
let items: ReadTable;
const reads = new ReadCounter();
const warms = new ReadCounter();
const nameOf = (row: string | null) => (JSON.parse(row!) as { name: string }).name;

/** The warmer's own connection, counting the commands it sends (instrumentation; Redis is real). */
let warmerRedis: Redis;
const sent: string[] = [];

function countingRedis(url: string): Redis {
  const r = new Redis(url);
  const conn = r as unknown as { sendCommand(cmd: { name: string }): unknown };
  const send = conn.sendCommand.bind(r);
  conn.sendCommand = (cmd) => {
    sent.push(cmd.name);
    return send(cmd);
  };
  return r;
}

async function deletePrefixKeys(): Promise<void> {
  const keys = await env.redis.keys(`${env.prefix}:*`);
  if (keys.length) await env.redis.del(...keys);
}

beforeAll(async () => {
  env = await createTestEnv({ sql: "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'v1' FROM generate_series(1, 50) i" });
  catalog = await catalogOf(env.pool, ['items']);
  config = testConfig(env, {
    SLUICE_TABLES: 'items', SLUICE_POPULARITY_SAMPLE: '1', SLUICE_CACHE_SOFT_TTL_S: '10', SLUICE_CACHE_TTL_S: '60',
    SLUICE_WARMER_INTERVAL_MS: '60000', SLUICE_WARMER_TOP_KEYS: '5', SLUICE_WARMER_HALF_LIFE_S: '600',
  });
  service = await startReadService(config, env.pool, catalog, reads);
  items = service.tables.get('items')!;
  warmerRedis = countingRedis(env.redisUrl);
  warmer = new Warmer({ settings: readSettingsOf(config), warmer: warmerSettingsOf(config), log, catalog, primary: env.pool, cache: warmerRedis, wrapQuery: warms.wrap });
  await warmer.start(); // its first cycle finds nothing hot yet
});

afterAll(async () => {
  await warmer?.stop();
  await warmer?.stop(); // idempotent
  await service?.stop();
  warmerRedis?.disconnect();
  await env?.cleanup();
});

describe('cache warmer', () => {
  it('ranks keys by sampled reads', async () => {
    for (let id = 1; id <= 8; id++) for (let n = 0; n < id; n++) await service.getRow(items, [String(id)]);
    await service.flushPopularity();
    const top = await env.redis.zrevrange(hotKeysKey(env.prefix), 0, 2, 'WITHSCORES');
    expect(top).toEqual(['items|8', '8', 'items|7', '7', 'items|6', '6']);
  });

  it('preloads the hottest keys after a Redis flush (popularity restored from its snapshot)', async () => {
    warmer.forget(); // re-read the hot set now, not in 10 s
    const first = await warmer.cycleNow(); // takes the snapshot; entries are fresh, nothing to do
    expect(first).toMatchObject({ hot: 5, missing: 0, refreshed: 0, restored: false });
    await deletePrefixKeys(); // entries, leases and popularity: a flushed Redis
    warmer.forget(); // what the reconnect of a restarted Redis does; a live flush is noticed within 10 s
    const cold = await warmer.cycleNow();
    expect(cold).toMatchObject({ hot: 5, missing: 5, refreshed: 5, stored: 5, restored: true });
    expect(warms.total).toBe(1); // one batched query for the five keys
    const before = reads.total;
    for (const id of ['4', '5', '6', '7', '8']) expect(await service.getRow(items, [id])).toMatchObject({ source: 'cache', status: 'hit' });
    expect(reads.total).toBe(before);
    expect((await service.getRow(items, ['1'])).source).not.toBe('cache'); // not hot: not preloaded
  });

  it('refreshes hot keys before their soft TTL runs out, so readers never see them stale', async () => {
    const k = service.store.keys('items', ['8']);
    const before = (await service.store.get(k))!;
    await env.pool.query("UPDATE items SET name = 'v2' WHERE id = 8"); // a change the cache was not told about
    // Pretend time passed: the entry's soft TTL runs out in 1 s, within the warmer's look-ahead.
    await env.redis.set(k.entry, encodeEntry('v', before.lsn, Date.now() + 1000, before.body), 'PX', 60_000);
    warmer.forget(); // it remembered the expiry it set (60 s away) and would not look before then
    const stats = await warmer.cycleNow();
    expect(stats.refreshed).toBeGreaterThanOrEqual(1);
    const r = await service.getRow(items, ['8']);
    expect(r).toMatchObject({ source: 'cache', status: 'hit' });
    expect(nameOf(r.row)).toBe('v2');
    expect(r.ttlMs).toBeGreaterThan(5000);
  });

  it('looks only at hot entries that may be due, not at every hot entry each cycle', async () => {
    warmer.forget();
    sent.length = 0;
    await warmer.cycleNow(); // learns every hot entry's soft expiry (all far away)
    expect(sent.filter((c) => c === 'get')).toHaveLength(5);
    sent.length = 0;
    const stats = await warmer.cycleNow();
    expect(stats).toMatchObject({ hot: 5, refreshed: 0 });
    expect(sent).toEqual([]); // not even the hot set: it is re-read every 10 s
  });
});

describe('popularity counter', () => {
  const key = () => hotKeysKey(`${env.prefix}-pop`);
  const counter = (redis: RedisClient, o: { sample?: number; maxKeys?: number } = {}) =>
    new PopularityCounter(redis, `${env.prefix}-pop`, { sample: o.sample ?? 1, flushMs: 60_000, maxMembers: 100_000, ttlMs: 3_600_000, ...(o.maxKeys ? { maxKeys: o.maxKeys } : {}) });

  it('sends one script call per flush (per 1,000 distinct keys), not a command per read', async () => {
    const redis = countingRedis(env.redisUrl);
    try {
      await redis.ping(); // connected: queued commands would be sent (and counted) twice
      const c = counter(redis);
      for (let i = 0; i < 500; i++) c.recordRead('items|1');
      for (let i = 0; i < 3; i++) c.recordRead('items|2');
      sent.length = 0;
      await c.flush();
      // (an EVAL may follow an EVALSHA once, while Redis does not know the script yet)
      expect(sent.filter((x) => x !== 'eval')).toEqual(['evalsha']);
      expect(await env.redis.zrevrange(key(), 0, -1, 'WITHSCORES')).toEqual(['items|1', '500', 'items|2', '3']);
      for (let i = 0; i < 2500; i++) c.recordRead(`many|${i}`);
      sent.length = 0;
      await c.flush();
      expect(sent.filter((x) => x !== 'eval')).toEqual(['evalsha', 'evalsha', 'evalsha']);
      expect(await env.redis.zcard(key())).toBe(2502);
      sent.length = 0;
      await c.flush(); // nothing new: nothing sent
      expect(sent).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('bounds the keys it holds between flushes, and stop() sends what is left', async () => {
    await env.redis.del(key());
    const c = counter(env.redis, { maxKeys: 2 });
    for (const id of ['a', 'b', 'c', 'a']) c.recordRead(id); // c: a third key, not held
    await c.stop();
    expect(await env.redis.zrevrange(key(), 0, -1, 'WITHSCORES')).toEqual(['a', '2', 'b', '1']);
    c.recordRead('c');
    await c.flush(); // a new window has room again
    expect(await env.redis.zscore(key(), 'c')).toBe('1');
  });

  it('samples 1 in N reads weighted by N, and counts nothing when off', async () => {
    await env.redis.del(key());
    const sampled = counter(env.redis, { sample: 10 });
    for (let i = 0; i < 10_000; i++) sampled.recordRead('s');
    await sampled.flush();
    const score = Number(await env.redis.zscore(key(), 's'));
    expect(score % 10).toBe(0);
    expect(score).toBeGreaterThan(8_000); // 1,000 expected samples; 8,000..12,000 is ±6 sigma
    expect(score).toBeLessThan(12_000);
    const off = counter(env.redis, { sample: 0 });
    off.recordRead('o');
    await off.flush();
    expect(await env.redis.zscore(key(), 'o')).toBeNull();
  });

  it('never rejects when Redis is unreachable (popularity is a hint)', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const c = counter(down);
    c.recordRead('x');
    await expect(c.flush()).resolves.toBeUndefined();
    down.disconnect();
  });
});

describe('warmer entry point', () => {
  it('logs "warmer started", then drains on SIGTERM and exits 0', async () => {
    const proc = await startTsProcess('writer/src/warmer/main.ts', {
      name: 'warmer',
      env: testEnvVars(env, { SLUICE_TABLES: 'items', SLUICE_WARMER_INTERVAL_MS: '100' }), // log level warn: the start line shows anyway
      ready: /warmer started/,
      timeoutMs: 30_000,
    });
    expect(await proc.stop()).toBe(0);
  });
});

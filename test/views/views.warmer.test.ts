/**
 * The cache warmer keeps a read model's hot groups fresh, as it does a
 * table's hot rows: a group read often is reloaded before its soft TTL runs
 * out (with the view's current aggregate), and a view that is being built
 * (not readable) is left alone. With shards, the shard its base rows' shard
 * key maps to warms a group (writer/src/warmer/owner.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTsProcess } from '@sluice/local-servers/processes.ts';
import { ensureView } from '@sluice/writer/views/build.ts';
import { loadViews } from '@sluice/writer/views/load.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { encodeEntry } from '@sluice/shared/read/cache/entry.ts';
import { readSettingsOf, warmerSettingsOf } from '@sluice/shared/read/settings.ts';
import { viewReadTable, type ReadTable } from '@sluice/shared/read/tables.ts';
import { Warmer } from '@sluice/shared/read/warmer.ts';
import { ViewStates } from '@sluice/shared/views/states.ts';
import { loadViewDefinitions, viewTableInfo } from '@sluice/shared/views/definitions.ts';
import { initialDoc, ShardMap } from '@sluice/shared/topology/shard-map.ts';
import { warmOwner } from '@sluice/writer/warmer/owner.ts';
import { createTestEnv, testConfig, testEnvVars, type TestEnv } from '../harness/index.ts';
import { log, ReadCounter, startReadService, type TestReadService } from '../read/helpers.ts';
import { quiet } from '../writer/helpers.ts';

let env: TestEnv;
let service: TestReadService;
let warmer: Warmer;
let view: ReadTable;
let states: ViewStates;
let viewsDir: string;
const warms = new ReadCounter();
const eventsOf = (row: string | null) => (JSON.parse(row!) as { n: number }).n;

beforeAll(async () => {
  env = await createTestEnv({ sql: 'CREATE TABLE events (id int PRIMARY KEY, user_id int NOT NULL, amount int); INSERT INTO events SELECT i, i % 5, i FROM generate_series(1, 50) i; CREATE TABLE notes (id int PRIMARY KEY, topic text)' });
  const catalog = await introspectCatalog(env.pool, ['events']);
  const dir = (viewsDir = mkdtempSync(join(tmpdir(), 'views-warmer-')));
  writeFileSync(join(dir, 'user_stats.sql'), 'select user_id, count(*) as n, sum(amount) as total from events group by user_id');
  const [maintained] = await loadViews(dir, catalog, env.pool);
  await ensureView(env.pool, maintained!, quiet);
  view = viewReadTable(viewTableInfo(maintained!.bound));
  const config = testConfig(env, {
    SLUICE_TABLES: 'events', SLUICE_POPULARITY_SAMPLE: '1', SLUICE_CACHE_SOFT_TTL_S: '10', SLUICE_CACHE_TTL_S: '60',
    SLUICE_WARMER_INTERVAL_MS: '60000', SLUICE_WARMER_TOP_KEYS: '5', SLUICE_WARMER_HALF_LIFE_S: '600',
  });
  service = await startReadService(config, env.pool, catalog);
  states = new ViewStates(() => [env.pool], ['user_stats'], 0);
  warmer = new Warmer({ settings: readSettingsOf(config), warmer: warmerSettingsOf(config), log, catalog, primary: env.pool, cache: env.redis, wrapQuery: warms.wrap, views: { tables: new Map([['user_stats', view]]), states } });
  // Group 1 is read most: it is the hottest key when the warmer starts.
  for (let i = 0; i < 5; i++) await service.getRow(view, ['1']);
  await service.getRow(view, ['2']);
  await service.flushPopularity();
  await warmer.start();
});

afterAll(async () => {
  await warmer?.stop();
  await service?.stop();
  await env?.cleanup();
});

/** Change group 1 behind the cache's back and make its entry's soft TTL run out within the warmer's look-ahead. */
async function changeGroupAndAgeEntry(by: number): Promise<string> {
  const k = service.store.keys('user_stats', ['1']);
  const before = (await service.store.get(k))!;
  await env.pool.query(`UPDATE sluice_views.user_stats__data SET n = n + ${by} WHERE user_id = 1`);
  await env.redis.set(k.entry, encodeEntry('v', before.lsn, Date.now() + 1000, before.body), 'PX', 60_000);
  warmer.forget(); // it remembered the expiry it saw (far away) and would not look before then
  return k.entry;
}

describe('cache warmer over read models', () => {
  it('reloads a hot group before its soft TTL runs out, so readers never see it stale', async () => {
    const before = eventsOf((await service.getRow(view, ['1'])).row);
    expect(before).toBe(10);
    await changeGroupAndAgeEntry(100);
    const loads = warms.total;
    const stats = await warmer.cycleNow();
    expect(stats.hot).toBe(2);
    expect(stats.refreshed).toBe(1); // group 1 only: group 2's entry is fresh
    expect(warms.total).toBe(loads + 1);
    const r = await service.getRow(view, ['1']);
    expect(r).toMatchObject({ source: 'cache', status: 'hit' });
    expect(eventsOf(r.row)).toBe(110);
    expect(r.ttlMs).toBeGreaterThan(5000);
  });

  it('leaves a view that is being built alone (its table is being filled)', async () => {
    await env.pool.query("UPDATE sluice.views SET state = 'building' WHERE name = 'user_stats'");
    try {
      await vi.waitFor(async () => expect(await states.stateOf('user_stats')).toBe('building'), { timeout: 5000, interval: 20 });
      const entry = await changeGroupAndAgeEntry(1000);
      const aged = await env.redis.get(entry);
      const loads = warms.total;
      const stats = await warmer.cycleNow();
      expect(stats.refreshed).toBe(0);
      expect(warms.total).toBe(loads);
      expect(await env.redis.get(entry)).toBe(aged); // untouched
    } finally {
      await env.pool.query("UPDATE sluice.views SET state = 'ready' WHERE name = 'user_stats'");
    }
    await vi.waitFor(async () => expect(await states.stateOf('user_stats')).toBe('ready'), { timeout: 5000, interval: 20 });
    warmer.forget();
    expect((await warmer.cycleNow()).refreshed).toBe(1); // readable again: warmed again
    expect(eventsOf((await service.getRow(view, ['1'])).row)).toBe(1110);
  });
});

describe('a warmer whose view file is older than the view', () => {
  it("fails that view's loads alone: the tables' hot rows are still warmed, and the cycle reports the view", async () => {
    const catalog = await introspectCatalog(env.pool, ['events']);
    const events = service.tables.get('events')!;
    for (let i = 0; i < 8; i++) await service.getRow(events, ['7']);
    await service.flushPopularity();
    // An earlier definition grouped by a column the view's table no longer has (a load reads
    // whole rows, so other column changes do not matter; a group key does).
    const dir = mkdtempSync(join(tmpdir(), 'views-warmer-old-'));
    writeFileSync(join(dir, 'user_stats.sql'), 'select amount, count(*) as n from events group by amount');
    const [old] = await loadViewDefinitions(dir, catalog);
    const stale = new Warmer({ settings: readSettingsOf(service.config), warmer: warmerSettingsOf(service.config), log, catalog, primary: env.pool, cache: env.redis, views: { tables: new Map([['user_stats', viewReadTable(viewTableInfo(old!))]]), states } });
    try {
      await stale.start();
      for (const [table, key] of [['events', '7'], ['user_stats', '1']] as const) {
        const k = service.store.keys(table, [key]);
        const e = (await service.store.get(k))!;
        await env.redis.set(k.entry, encodeEntry('v', e.lsn, Date.now() + 1000, e.body), 'PX', 60_000);
      }
      stale.forget();
      const stats = await stale.cycleNow();
      expect(stats.failed).toEqual(['user_stats']);
      expect(stats).toMatchObject({ refreshed: 1, stored: 1 }); // events 7; user_stats 1's load failed
      expect((await service.getRow(events, ['7'])).ttlMs).toBeGreaterThan(5000);
    } finally {
      await stale.stop();
    }
  });
});

describe('which shard warms a key', () => {
  it('a group of a view over a sharded table: the shard of its shard-key value; over an unsharded one: the first shard', async () => {
    const catalog = await introspectCatalog(env.pool, ['events', 'notes']);
    const dir = mkdtempSync(join(tmpdir(), 'views-owner-'));
    writeFileSync(join(dir, 'per_user.sql'), 'select amount, user_id, count(*) as n from events group by amount, user_id');
    writeFileSync(join(dir, 'per_topic.sql'), 'select topic, count(*) as n from notes group by topic');
    const views = await loadViewDefinitions(dir, catalog);
    const keys = { events: 'user_id' };
    const map = new ShardMap(1, initialDoc(['s1', 's2'], 2, { keys, ranges: [{ upTo: 100, shard: 's1' }, { shard: 's2' }] }));
    const ownerOf = warmOwner(catalog, views, keys);
    // The shard key is the group's second column here: its value, not the first, places the group.
    expect(ownerOf(map, 'per_user', ['500', '7'])).toBe('s1');
    expect(ownerOf(map, 'per_user', ['5', '700'])).toBe('s2');
    expect(ownerOf(map, 'per_topic', ['x'])).toBe('s1');
    // Tables as before: a sharded table's key holds no shard key here (id), so every shard keeps its own; an unsharded one lives on the first.
    expect(ownerOf(map, 'events', ['700'])).toBeUndefined();
    expect(ownerOf(map, 'notes', ['1'])).toBe('s1');
  });
});

describe('warmer entry point with SLUICE_VIEWS_DIR', () => {
  it('names the views it warms at start, and drains on SIGTERM', async () => {
    const proc = await startTsProcess('writer/src/warmer/main.ts', {
      name: 'warmer',
      env: testEnvVars(env, { SLUICE_TABLES: 'events', SLUICE_VIEWS_DIR: viewsDir, SLUICE_WARMER_INTERVAL_MS: '100' }),
      ready: /warmer started/,
      timeoutMs: 30_000,
    });
    expect(proc.output()).toMatch(/"views":\["user_stats"\]/);
    expect(await proc.stop()).toBe(0);
  });
});

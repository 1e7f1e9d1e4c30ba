/**
 * Cache behaviour against real Redis and Postgres: negative entries cleared
 * by a write-through, stale-while-revalidate with one refresh, the LSN
 * compare-and-set against a slow fill (driven step by step), tombstones, and
 * read-your-writes against cached entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '@sluice/shared/redis/connections.ts';
import { slotOf } from '@sluice/shared/redis/slots.ts';
import { type Catalog } from '@sluice/shared/catalog/types.ts';
import { CacheStore, DEFAULT_TTLS } from '@sluice/shared/read/cache/store.ts';
import { lsnKeyOf } from '@sluice/shared/read/cache/lsn.ts';
import { writeThrough } from '@sluice/shared/read/cache/write-through.ts';
import { type ReadTable } from '@sluice/shared/read/tables.ts';
import { rowKeys, type RowKeys } from '@sluice/shared/read/cache/keys.ts';
import { createTestEnv, eventually, onRedisCluster, openTestRedis, testConfig, type TestEnv } from '../harness/index.ts';
import { catalogOf, committedWrite, ReadCounter, startReadService , type TestReadService } from './helpers.ts';

let env: TestEnv;
let catalog: Catalog;
let service: TestReadService;
let items: ReadTable;
const counter = new ReadCounter();
let nextId = 1000;

const upsert = `INSERT INTO items AS r (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING row_to_json(r.*)::text AS j, r.id::text AS k`;
const through = () => ({ redis: env.redis, catalog, prefix: env.prefix, table: 'items' });
const nameOf = (row: string | null) => (row === null ? null : (JSON.parse(row) as { name: string }).name);

beforeAll(async () => {
  env = await createTestEnv({ sql: "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'v1' FROM generate_series(1, 100) i" });
  catalog = await catalogOf(env.pool, ['items']);
  const config = testConfig(env, { SLUICE_TABLES: 'items', SLUICE_CACHE_SOFT_TTL_S: '1', SLUICE_CACHE_TTL_S: '60', SLUICE_NEGATIVE_TTL_S: '60', SLUICE_CACHE_TTL_JITTER_PCT: '0' });
  service = await startReadService(config, env.pool, catalog, counter);
  items = service.tables.get('items')!;
});

afterAll(async () => {
  await service?.stop();
  await env?.cleanup();
});

describe('negative caching', () => {
  it('caches "no such row" until a write-through of the insert replaces it', async () => {
    const id = String(nextId++);
    const before = counter.total;
    expect((await service.getRow(items, [id])).row).toBeNull();
    const again = await service.getRow(items, [id]);
    expect(again).toMatchObject({ row: null, source: 'cache', status: 'hit' });
    expect(counter.total - before).toBe(1);

    await committedWrite(env.pool, upsert, [id, 'inserted'], through());
    const after = await service.getRow(items, [id]);
    expect(after.source).toBe('cache');
    expect(nameOf(after.row)).toBe('inserted');
    expect(counter.total - before).toBe(1);
  });

  it('a delete leaves a tombstone a slower fill of the old row cannot replace', async () => {
    const id = '5';
    const old = await service.getRow(items, [id]);
    expect(nameOf(old.row)).toBe('v1');
    const { token } = await committedWrite(env.pool, 'DELETE FROM items WHERE id = $1 RETURNING NULL::text AS j, id::text AS k', [id], through());
    // A fill of the row as it was before the delete (its stamp is older than the token).
    const filled = await service.store.fill(service.store.keys('items', [id]), old.lsn, old.row);
    expect(filled.type).toBe('kept');
    expect(await service.getRow(items, [id])).toMatchObject({ row: null, source: 'cache' });
    expect((await service.getRow(items, [id], lsnKeyOf(token))).row).toBeNull();
  });
});

describe('stale-while-revalidate', () => {
  it('serves the stale row while exactly one refresh runs, then the fresh one', async () => {
    const id = '7';
    await service.getRow(items, [id]);
    await env.pool.query("UPDATE items SET name = 'v2' WHERE id = $1", [id]); // no write-through: only a refresh can see it
    const k = service.store.keys('items', [id]);
    await eventually(async () => expect(Date.now()).toBeGreaterThanOrEqual((await service.store.get(k))!.softUntil), 5000);

    counter.hold(); // keep the refresh in flight while the stale reads arrive
    const before = counter.total;
    const stale = await Promise.all(Array.from({ length: 50 }, () => service.getRow(items, [id])));
    for (const r of stale) expect(r).toMatchObject({ source: 'cache', status: 'stale' });
    expect(stale.map((r) => nameOf(r.row))).toEqual(Array(50).fill('v1'));
    await eventually(() => expect(counter.held).toBe(1));
    expect(counter.total - before).toBe(1);
    counter.release();

    const fresh = await eventually(async () => {
      const r = await service.getRow(items, [id]);
      expect(nameOf(r.row)).toBe('v2');
      return r;
    });
    expect(fresh).toMatchObject({ source: 'cache', status: 'hit' });
    expect(counter.total - before).toBe(1);
    expect(await service.store.redis.exists(k.lease)).toBe(0); // the refresher released its lease
  });
});

describe('LSN compare-and-set', () => {
  it('a fill that read the old row before a write-through never replaces the newer entry', async () => {
    const id = '9';
    counter.hold();
    const before = counter.total;
    const slow = service.getRow(items, [id]); // miss: takes the lease, reads 'v1', then waits at the gate
    await eventually(() => expect(counter.held).toBe(1));
    const { token } = await committedWrite(env.pool, upsert, [id, 'written'], through());
    counter.release();

    const r = await slow;
    // The fill lost the compare-and-set, and the reader answered with the newer entry.
    expect(nameOf(r.row)).toBe('written');
    expect(r.lsn >= lsnKeyOf(token)).toBe(true);
    const cached = await service.getRow(items, [id]);
    expect(cached).toMatchObject({ source: 'cache', status: 'hit' });
    expect(nameOf(cached.row)).toBe('written');
    expect(counter.total - before).toBe(1);
  });

  it('orders fills and write-throughs by LSN alone, whatever order they arrive in', async () => {
    const store = new CacheStore(env.redis, env.prefix, DEFAULT_TTLS, 1000);
    const k = store.keys('items', ['cas']);
    const [older, newer] = [lsnKeyOf('0/1000'), lsnKeyOf('1/0')];
    expect((await store.fill(k, newer, '"new"')).type).toBe('stored');
    expect(await store.fill(k, older, '"old"')).toMatchObject({ type: 'kept', entry: { body: '"new"' } });
    expect(await writeThrough(env.redis, catalog, env.prefix, [{ table: 'items', key: ['cas'], row: '"older write"' }], '0/2000')).toBe(0);
    expect((await store.get(k))?.body).toBe('"new"');
    expect(await writeThrough(env.redis, catalog, env.prefix, [{ table: 'items', key: ['cas'], row: { v: 'same lsn, again' } }], '1/0')).toBe(1);
    expect((await store.get(k))?.body).toBe('{"v":"same lsn, again"}');
  });

  it('a fill whose lease lapsed and was taken over is fenced off', async () => {
    const store = new CacheStore(env.redis, env.prefix, DEFAULT_TTLS, 50);
    const k = store.keys('items', ['fence']);
    const a = await store.acquire(k, 'miss');
    expect(a.type).toBe('lease');
    await eventually(async () => expect((await store.acquire(k, 'miss')).type).toBe('lease'), 2000);
    const late = await store.fill(k, lsnKeyOf('5/0'), '"late"', a.type === 'lease' ? a.token : '');
    expect(late.type).toBe('fenced');
    expect(await store.get(k)).toBeNull();
  });
});

/** Script or MGET calls one turn of these rows' work takes: one, or on a Redis Cluster one per slot. */
function callsFor(ks: readonly RowKeys[]): number {
  return onRedisCluster() ? new Set(ks.map((k) => slotOf(k.entry))).size : 1;
}

describe('lease and fill calls of one turn', () => {
  /** A connection that counts the EVALSHA calls it sends (instrumentation; Redis is real). */
  async function countingScripts(): Promise<{ redis: RedisClient; calls: () => number }> {
    const redis = openTestRedis(env.redisUrl, 'test-counting');
    await redis.ping();
    let n = 0;
    const conn = redis as unknown as { sendCommand(cmd: { name: string }): unknown };
    const send = conn.sendCommand.bind(redis);
    conn.sendCommand = (cmd) => {
      if (cmd.name === 'evalsha') n++;
      return send(cmd);
    };
    return { redis, calls: () => n };
  }

  it('share one script call, and each row keeps its own outcome', async () => {
    const { redis, calls } = await countingScripts();
    try {
      const store = new CacheStore(redis, env.prefix, DEFAULT_TTLS, 5000);
      const [cached, free, lapsed] = ['turn-cached', 'turn-free', 'turn-lapsed'].map((id) => store.keys('items', [id])) as [RowKeys, RowKeys, RowKeys];
      expect((await store.fill(cached, lsnKeyOf('2/0'), '"cached"')).type).toBe('stored');
      const other = await store.acquire(lapsed, 'miss'); // another reader's lease
      expect(other.type).toBe('lease');

      const before = calls();
      const leases = await Promise.all([store.acquire(cached, 'miss'), store.acquire(free, 'miss'), store.acquire(free, 'miss'), store.acquire(cached, 'refresh')]);
      expect(calls() - before).toBe(callsFor([cached, free]));
      expect(leases.map((a) => a.type)).toEqual(['entry', 'lease', 'held', 'lease']);
      const token = (a: (typeof leases)[number]) => (a.type === 'lease' ? a.token : '');

      const mid = calls();
      const fills = await Promise.all([
        store.fill(cached, lsnKeyOf('1/0'), '"older"', token(leases[3]!)), // older than the entry: kept, lease released
        store.fill(free, lsnKeyOf('1/0'), '"free"', token(leases[1]!)),
        store.fill(lapsed, lsnKeyOf('1/0'), '"late"', 'not-the-holder'),
      ]);
      expect(calls() - mid).toBe(callsFor([cached, free, lapsed]));
      expect(fills.map((f) => f.type)).toEqual(['kept', 'stored', 'fenced']);
      expect((await store.get(cached))?.body).toBe('"cached"');
      expect((await store.get(free))?.body).toBe('"free"');
      expect(await store.get(lapsed)).toBeNull();
      expect((await store.peek(free)).leasePttlMs).toBeLessThan(0); // released by its fill
      expect((await store.peek(cached)).leasePttlMs).toBeLessThan(0);
    } finally {
      redis.disconnect();
    }
  });

  it('go one by one with batch 1 (Redis Cluster: each row has its own hash tag)', async () => {
    const { redis, calls } = await countingScripts();
    try {
      const store = new CacheStore(redis, env.prefix, DEFAULT_TTLS, 5000, 1);
      const keys = ['solo-1', 'solo-2', 'solo-3'].map((id) => store.keys('items', [id]));
      const before = calls();
      const leases = await Promise.all(keys.map((k) => store.acquire(k, 'miss')));
      expect(leases.map((a) => a.type)).toEqual(['lease', 'lease', 'lease']);
      expect(calls() - before).toBe(3);
    } finally {
      redis.disconnect();
    }
  });
});

describe('multi-get', () => {
  it('looks all its keys up with one MGET, then treats each as a single read would', async () => {
    const sent: string[] = [];
    const cache = openTestRedis(env.redisUrl, 'test-multi-get');
    const conn = cache as unknown as { sendCommand(cmd: { name: string }): unknown };
    const send = conn.sendCommand.bind(cache);
    conn.sendCommand = (cmd) => {
      sent.push(cmd.name);
      return send(cmd);
    };
    await cache.ping();
    const config = testConfig(env, { SLUICE_TABLES: 'items', SLUICE_POPULARITY_SAMPLE: '0' });
    const reads = new ReadCounter();
    const own = await startReadService(config, env.pool, catalog, reads, cache);
    try {
      const t = own.tables.get('items')!;
      const keys = ['41', '42', '43', '999999', '44'].map((k) => [k]);
      const lookups = () => sent.filter((c) => c === 'get' || c === 'mget');

      sent.length = 0;
      const cold = await own.getRows(t, keys, undefined);
      expect(cold.rows.map(nameOf)).toEqual(['v1', 'v1', 'v1', null, 'v1']);
      // One MGET (on a Redis Cluster one per slot: never a CROSSSLOT call).
      expect(lookups()).toEqual(new Array(callsFor(keys.map((k) => rowKeys(env.prefix, 'items', k)))).fill('mget'));
      expect(reads.total).toBe(1); // the five misses share one query

      sent.length = 0;
      const warm = await own.getRows(t, keys, undefined);
      expect(warm).toEqual({ rows: cold.rows, source: 'cache' }); // the missing key too: a negative entry
      expect(sent.filter((c) => c !== 'mget')).toEqual([]);
      expect(reads.total).toBe(1);

      // With a token: the written key is a hit (written through at the token),
      // the entries older than the token are read again, in one query.
      const { token } = await committedWrite(env.pool, upsert, ['42', 'changed'], through());
      const mixed = await own.getRows(t, keys, lsnKeyOf(token));
      expect(mixed.rows.map(nameOf)).toEqual(['v1', 'changed', 'v1', null, 'v1']);
      expect(reads.total).toBe(2);
    } finally {
      await own.stop();
      cache.disconnect();
    }
  });
});

describe('read-your-writes against the cache', () => {
  it('serves an entry only when its LSN reaches the token', async () => {
    const id = '11';
    const cached = await service.getRow(items, [id]);
    const { token } = await committedWrite(env.pool, upsert, [id, 'mine'], null); // write-through lost
    // Without a token the (older) cached row is fine; with the token it is not.
    expect(nameOf((await service.getRow(items, [id])).row)).toBe(nameOf(cached.row));
    const ryw = await service.getRow(items, [id], lsnKeyOf(token));
    expect(ryw).toMatchObject({ source: 'primary', status: 'request' });
    expect(nameOf(ryw.row)).toBe('mine');
    // That read's fill moved the entry forward for everyone.
    expect(nameOf((await service.getRow(items, [id])).row)).toBe('mine');
  });

  it('a write-through at the token makes the token read a cache hit', async () => {
    const id = '12';
    const { token } = await committedWrite(env.pool, upsert, [id, 'through'], through());
    const before = counter.total;
    const r = await service.getRow(items, [id], lsnKeyOf(token));
    expect(r).toMatchObject({ source: 'cache', status: 'hit' });
    expect(nameOf(r.row)).toBe('through');
    expect(counter.total - before).toBe(0);
  });

  it('a fence sends readers to a source at least as new as the write', async () => {
    const id = '13';
    await service.getRow(items, [id]);
    const { rows } = await env.pool.query<{ l: string }>("UPDATE items SET name = 'fenced' WHERE id = 13 RETURNING pg_current_wal_insert_lsn()::text AS l");
    const { fenceKeys } = await import('@sluice/shared/read/cache/write-through.ts');
    expect(await fenceKeys(env.redis, catalog, env.prefix, [{ table: 'items', key: [id] }], rows[0]!.l)).toBe(1);
    const r = await service.getRow(items, [id]);
    expect(r.source).toBe('primary');
    expect(nameOf(r.row)).toBe('fenced');
    expect(await service.getRow(items, [id])).toMatchObject({ source: 'cache' });
  });
});

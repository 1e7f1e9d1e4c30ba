/**
 * Issue 11, finding 3 (RELIABILITY row 33, the Redis half): the popularity
 * set the read path feeds stays bounded without any warmer. 5 reads of absent
 * rows had added 5,000 members and one 200 KB key ~446 KB, with no TTL, in a
 * Redis that may be the queue's (noeviction). Now only reads that found a row
 * count, over-long row ids are not counted, and every add trims the set to
 * SLUICE_POPULARITY_MAX_KEYS and renews SLUICE_POPULARITY_TTL_S.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotKeysKey } from '@sluice/shared/read/cache/keys.ts';
import { type ReadTable } from '@sluice/shared/read/tables.ts';
import { createTestEnv, testConfig, type TestEnv } from '../harness/index.ts';
import { catalogOf, startReadService, type TestReadService } from './helpers.ts';

let env: TestEnv;
let service: TestReadService;
let items: ReadTable;
let words: ReadTable;
const MAX = 1000;

beforeAll(async () => {
  env = await createTestEnv({
    sql: `CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT i, 'v' FROM generate_series(1, 100000) i;
          CREATE TABLE words (w text PRIMARY KEY); INSERT INTO words VALUES (repeat('x', 200000))`,
  });
  const config = testConfig(env, { SLUICE_TABLES: 'items,words', SLUICE_POPULARITY_SAMPLE: '1', SLUICE_POPULARITY_MAX_KEYS: String(MAX), SLUICE_POPULARITY_TTL_S: '600', SLUICE_WARMER_TOP_KEYS: '100' });
  service = await startReadService(config, env.pool, await catalogOf(env.pool, ['items', 'words']));
  items = service.tables.get('items')!;
  words = service.tables.get('words')!;
});
afterAll(async () => {
  await service?.stop();
  await env?.cleanup();
});

const hot = () => hotKeysKey(env.prefix);

/** Read `ids` of items 1,000 at a time (the multi-get path), then send the counts to Redis. */
async function readAll(ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1000) await service.getRows(items, ids.slice(i, i + 1000).map((id) => [id]));
  await service.flushPopularity();
}

describe('popularity set bounds', () => {
  it('100 k distinct random misses add nothing; 100 k distinct rows read leave at most MAX members, with a TTL', { timeout: 180_000 }, async () => {
    // Absent rows: ids far above the table's (random, distinct).
    const misses = new Set<string>();
    while (misses.size < 100_000) misses.add(String(1_000_000 + (randomBytes(4).readUInt32BE() % 1_000_000_000)));
    await readAll([...misses]);
    expect(await env.redis.zcard(hot())).toBe(0);

    // A 200 KB key that exists is read, and not counted.
    expect((await service.getRow(words, ['x'.repeat(200_000)])).row).not.toBeNull();
    await service.flushPopularity();
    expect(await env.redis.zcard(hot())).toBe(0);

    // Rows that exist: counted, trimmed by the add itself.
    await readAll(Array.from({ length: 100_000 }, (_, i) => String(i + 1)));
    expect(await env.redis.zcard(hot())).toBeLessThanOrEqual(MAX);
    expect(await env.redis.zcard(hot())).toBeGreaterThan(0);
    const ttl = await env.redis.pttl(hot());
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);
    // About 100 bytes a member at most (skiplist + dict of short ids).
    expect(Number(await env.redis.call('MEMORY', 'USAGE', hot()))).toBeLessThan(MAX * 200);
  });
});

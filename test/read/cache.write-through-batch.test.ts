/**
 * The writer's write-through of a committed batch
 * (shared/src/read/cache/write-through.ts): every row is stored at the
 * batch's LSN, compare-and-set (a newer entry stays), in one script call per
 * `chunk` entries on one Redis and per master on a Redis Cluster, where each
 * row has its own slot; a call that a master refuses because the client's
 * slot map was stale is stored again one call per slot.
 * Runs on one Redis and, with SLUICE_TEST_REDIS=cluster, on a cluster.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { isCluster, type RedisClient } from '@sluice/shared/redis/connections.ts';
import { slotOf } from '@sluice/shared/redis/slots.ts';
import { decodeEntry } from '@sluice/shared/read/cache/entry.ts';
import { rowKeys } from '@sluice/shared/read/cache/keys.ts';
import { lsnKeyOf } from '@sluice/shared/read/cache/lsn.ts';
import { writeThrough, type WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import { createTestEnv, onRedisCluster, openTestRedis, type TestEnv } from '../harness/index.ts';
import { catalogOf } from './helpers.ts';

let env: TestEnv;
let catalog: Catalog;
let redis: RedisClient;
let evalshas = 0;

beforeAll(async () => {
  env = await createTestEnv({ sql: 'CREATE TABLE items (id int PRIMARY KEY, name text)' });
  catalog = await catalogOf(env.pool, ['items']);
  // A connection that counts the script calls it sends (instrumentation; Redis is real).
  // Every call starts with one EVALSHA (an EVAL follows only when the node lacks the script).
  redis = openTestRedis(env.redisUrl, 'test-write-through');
  await redis.ping();
  const conn = redis as unknown as { sendCommand(cmd: { name: string }): unknown };
  const send = conn.sendCommand.bind(redis);
  conn.sendCommand = (cmd) => {
    if (cmd.name === 'evalsha') evalshas++;
    return send(cmd);
  };
});
afterAll(async () => {
  redis?.disconnect();
  await env?.cleanup();
});

const rowsOf = (from: number, n: number, name: string): WriteThroughRow[] => Array.from({ length: n }, (_, i) => ({ table: 'items', key: [String(from + i)], row: { id: from + i, name } }));
const entryOf = (id: number) => rowKeys(env.prefix, 'items', [String(id)]).entry;

/** The master (host:port) serving `key`, as the test client's slot map says. */
function masterOf(key: string): string {
  return isCluster(redis) ? redis.slots[slotOf(key)]![0]! : 'one';
}

/** Script calls a batch of `ids` takes: ⌈entries / chunk⌉ per master. */
function callsFor(ids: number[], chunk: number): number {
  const perMaster = new Map<string, number>();
  for (const id of ids) perMaster.set(masterOf(entryOf(id)), (perMaster.get(masterOf(entryOf(id))) ?? 0) + 1);
  return [...perMaster.values()].reduce((a, n) => a + Math.ceil(n / chunk), 0);
}

async function cached(id: number): Promise<{ lsn: string; name: string } | null> {
  const raw = await env.redis.get(entryOf(id));
  const e = raw === null ? null : decodeEntry(raw);
  return e?.body ? { lsn: e.lsn, name: (JSON.parse(e.body) as { name: string }).name } : null;
}

it('stores every row at the batch LSN, a script call per 256 entries per master, and keeps a newer entry', async () => {
  const ids = rowsOf(1, 300, '').map((r) => Number(r.key[0]));
  expect(await writeThrough(redis, catalog, env.prefix, rowsOf(7, 1, 'newer'), '9/0')).toBe(1);

  const before = evalshas;
  expect(await writeThrough(redis, catalog, env.prefix, rowsOf(1, 300, 'batch'), '1/0')).toBe(299);
  expect(evalshas - before).toBe(callsFor(ids, 256));
  if (onRedisCluster()) expect(evalshas - before).toBeLessThanOrEqual(3); // not one per row

  expect(await cached(7)).toEqual({ lsn: lsnKeyOf('9/0'), name: 'newer' });
  for (const id of ids.filter((i) => i !== 7)) expect(await cached(id)).toEqual({ lsn: lsnKeyOf('1/0'), name: 'batch' });

  const mid = evalshas;
  expect(await writeThrough(redis, catalog, env.prefix, rowsOf(1, 300, 'again'), '2/0', undefined, { chunk: 50 })).toBe(299);
  expect(evalshas - mid).toBe(callsFor(ids, 50));
});

it.skipIf(!onRedisCluster())('a call refused by a master the slot map wrongly names is stored again one call per slot', async () => {
  if (!isCluster(redis)) return;
  const ids = rowsOf(1001, 60, '').map((r) => Number(r.key[0]));
  // The last row's slot, wrongly mapped to the master of the first row: that master's
  // call carries a key it does not hold and refuses it after storing the keys before it.
  const first = masterOf(entryOf(ids[0]!));
  const moved = [...ids].reverse().find((id) => masterOf(entryOf(id)) !== first)!;
  const slot = slotOf(entryOf(moved));
  const truth = redis.slots[slot]!;
  redis.slots[slot] = [first];
  const refusedSlots = new Set(ids.filter((id) => masterOf(entryOf(id)) === first).map((id) => slotOf(entryOf(id)))).size;
  const before = evalshas;
  try {
    expect(await writeThrough(redis, catalog, env.prefix, rowsOf(1001, 60, 'batch'), '3/0')).toBe(60);
  } finally {
    redis.slots[slot] = truth;
  }
  // One call per master, then one per slot of the refused call's rows.
  expect(evalshas - before).toBe(callsFor(ids, 256) + refusedSlots);
  for (const id of ids) expect(await cached(id)).toEqual({ lsn: lsnKeyOf('3/0'), name: 'batch' });
});

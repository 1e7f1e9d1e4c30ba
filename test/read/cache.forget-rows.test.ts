/**
 * After a failover the writer drops a shard's cached rows
 * (shared/src/read/cache/forget.ts): every row entry of that shard's
 * namespace, and nothing else (fill leases, the popularity set, other
 * shards' rows).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { forgetCachedRows } from '@sluice/shared/read/cache/forget.ts';
import { cachePrefixOf, rowKeys } from '@sluice/shared/read/cache/keys.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => env?.cleanup());

it("drops every cached row of the shard's namespace and nothing else", async () => {
  const main = cachePrefixOf(env.prefix, 'main', 'main');
  const s2 = cachePrefixOf(env.prefix, 's2', 'main');
  const rows = Array.from({ length: 2500 }, (_, i) => rowKeys(main, 't', [String(i)]));
  const other = rowKeys(s2, 't', ['1']);
  const keep = [rows[0]!.lease, `${main}:c:hot`, other.entry];
  const multi = env.redis.multi();
  for (const r of rows) multi.set(r.entry, 'x');
  for (const k of keep) multi.set(k, 'x');
  await multi.exec();

  expect(await forgetCachedRows(env.redis, main)).toBe(rows.length);
  expect(await env.redis.exists(...rows.map((r) => r.entry))).toBe(0);
  expect(await env.redis.exists(...keep)).toBe(keep.length);
});

/** Read throughput scenarios: the bare baselines (a, b) and Sluice (c, d), each with its CPU per request by process. */
import { join } from 'node:path';
import type { Tracked } from '../lib/cpu.ts';
import { drive, warmUp } from '../lib/drive.ts';
import { summarizeProfiles } from '../lib/profile.ts';
import { profileDir } from '../lib/report.ts';
import { startBaseline, startService, startStack, stopAll, tracked, type Running, type ServiceName, type ServiceOptions } from '../lib/services.ts';
import { freePort } from '../lib/shared.ts';
import type { KeyPattern } from '../load/keys.ts';
import type { LoadSpec } from '../load/generator.ts';
import { MISS_FROM, WARM_FROM, type ReadCtx } from './index.ts';
import { flushCache } from './zipf.ts';

const PATH = '/v1/tables/bench_kv/{key}';
/** Hot keys of the hit scenarios. */
export const HOT_KEYS = 1000;
const HOT: KeyPattern = { mode: 'cycle', n: HOT_KEYS };
/** A multi-get of keys 1…50 (all cached in the scenarios that use it). */
const MULTI_KEYS = 50;
const MULTI_PATH = `/v1/tables/bench_kv?key=in.(${Array.from({ length: MULTI_KEYS }, (_, i) => i + 1).join(',')})`;
const PROFILED = ['gateway', 'writer'] as const;

/** A GET load spec over `ports`. */
export function getSpec(ctx: ReadCtx, ports: number[], keys: KeyPattern, path = PATH, durationMs = ctx.o.durationS * 1000): LoadSpec {
  return { name: '', ports, method: 'GET', path, keys, connections: ctx.o.connections, durationMs };
}

/**
 * Measure `spec` as `scenario`, counting the CPU of `running` (default: what
 * the context runs); Redis and Postgres are always counted (the warmer and the
 * popularity flush use them even on hits).
 */
export async function measure(ctx: ReadCtx, key: string, scenario: string, spec: LoadSpec, running: readonly Running[] = ctx.running): Promise<[number, number]> {
  const servers: Tracked[] = [{ name: 'redis', pid: ctx.redis.pid }, { name: 'postgres', pid: ctx.pg.pid }];
  process.stderr.write(`\n${scenario}\n`);
  const measured = await drive({ ...spec, name: scenario }, [...tracked(running), ...servers]);
  ctx.results.push({ key, scenario, measured });
  return measured.monoUs;
}

/** What `pnpm start` gets here (plus `more`), profiling gateway and writer under `key` with --profile. */
export function sluiceOptions(ctx: ReadCtx, key: string, port: number, more: Record<string, string> = {}): ServiceOptions {
  const env = { DATABASE_URL: ctx.pg.url, REDIS_URL: ctx.redis.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port), ...more };
  return { env, ...(ctx.o.profile ? { profile: { dir: join(profileDir(ctx.run), key), services: PROFILED } } : {}) };
}

/** Start Sluice (`services`, default all three), run `body` with its port(s), stop it and read its profiles over `body`'s window. */
export async function withSluice(ctx: ReadCtx, key: string, body: (port: number) => Promise<[number, number] | undefined>, more: Record<string, string> = {}, services?: ServiceName[]): Promise<void> {
  const so = sluiceOptions(ctx, key, await freePort(), more);
  ctx.running.push(...(await startStack(so, services)));
  const window = await body(Number(so.env.SLUICE_PORT));
  await stopAll(ctx.running); // profiles are written as they exit
  if (so.profile && window) ctx.profiles[key] = summarizeProfiles(so.profile.dir, PROFILED, window);
}

/** The values the bare GET baseline reads: keys 1…HOT_KEYS, about the size of Sluice's entries. */
export async function seedBareKeys(ctx: ReadCtx): Promise<void> {
  const { Redis } = await import('ioredis');
  const seed = new Redis(ctx.redis.url);
  for (let id = 1; id <= HOT_KEYS; id++) await seed.set(`bench:bench_kv:${id}`, JSON.stringify({ id, owner: id % 1000, payload: 'x'.repeat(96) }));
  seed.disconnect();
}

/** Run `body` against `count` bare GET servers (profiled into `profileKey` when given). */
async function withBareGet(ctx: ReadCtx, count: number, body: (ports: number[]) => Promise<[number, number]>, profileKey?: string): Promise<void> {
  const dir = ctx.o.profile && profileKey ? join(profileDir(ctx.run), profileKey) : undefined;
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    ports.push(await freePort());
    ctx.running.push(await startBaseline('bench/baselines/bare-redis-get.ts', [String(ports[i]), ctx.redis.url], `bare-redis-${i + 1}`, i === 0 && dir ? join(dir, 'server') : undefined));
  }
  const window = await body(ports);
  await stopAll(ctx.running);
  if (dir && profileKey) ctx.profiles[profileKey] = summarizeProfiles(dir, ['server'], window);
}

// a1/a2/a3. bare Hono + ioredis GET (1 and 2 processes) and MGET. The bare GET is profiled
// with --profile too: the gateway's profile under hits is read against it.
const bareGet = (ctx: ReadCtx) =>
  withBareGet(ctx, 1, async ([p]) => {
    await warmUp(getSpec(ctx, [p!], HOT));
    return measure(ctx, 'bareGet', `a1. bare Hono + Redis GET, ${HOT_KEYS} keys`, getSpec(ctx, [p!], HOT));
  }, 'bareGet');
const bareGet2 = (ctx: ReadCtx) =>
  withBareGet(ctx, 2, async (ports) => {
    await warmUp(getSpec(ctx, ports, HOT));
    return measure(ctx, 'bareGet2', 'a2. bare Hono + Redis GET, 2 processes', getSpec(ctx, ports, HOT));
  });
const bareMget = (ctx: ReadCtx) =>
  withBareGet(ctx, 1, async ([p]) => {
    await warmUp(getSpec(ctx, [p!], HOT, MULTI_PATH));
    return measure(ctx, 'bareMget', `a3. bare Hono + Redis MGET of ${MULTI_KEYS} keys`, getSpec(ctx, [p!], HOT, MULTI_PATH));
  });

/** b. bare Hono + one SELECT per request. */
async function naiveSelect(ctx: ReadCtx): Promise<void> {
  const port = await freePort();
  ctx.running.push(await startBaseline('bench/baselines/naive-select.ts', [String(port), ctx.pg.url], 'naive-select'));
  await warmUp(getSpec(ctx, [port], { mode: 'seq', start: WARM_FROM }));
  await measure(ctx, 'naiveSelect', 'b. naive SELECT per request', getSpec(ctx, [port], { mode: 'seq', start: MISS_FROM }));
  await stopAll(ctx.running);
}

// c1/c2/c3. cache hits (1 and 2 gateways), cached multi-get; d. misses: each with gateway, writer and warmer running.
const hits = (ctx: ReadCtx) =>
  withSluice(ctx, 'hits', async (port) => {
    await warmUp(getSpec(ctx, [port], HOT)); // fills the cache with the hot keys; the warmer keeps them fresh
    return measure(ctx, 'hits', `c1. Sluice cache hits, ${HOT_KEYS} keys`, getSpec(ctx, [port], HOT));
  });
const hits2 = (ctx: ReadCtx) =>
  withSluice(ctx, 'hits2', async (port) => {
    const so = sluiceOptions(ctx, 'hits2', await freePort());
    ctx.running.push(await startService('gateway', so, 'gateway-2'));
    const ports = [port, Number(so.env.SLUICE_PORT)];
    await warmUp(getSpec(ctx, ports, HOT));
    return measure(ctx, 'hits2', 'c2. Sluice cache hits, 2 gateways', getSpec(ctx, ports, HOT));
  });
const multi = (ctx: ReadCtx) =>
  withSluice(ctx, 'multi', async (port) => {
    await warmUp(getSpec(ctx, [port], HOT, MULTI_PATH));
    return measure(ctx, 'multi', `c3. Sluice cached multi-get of ${MULTI_KEYS} keys`, getSpec(ctx, [port], HOT, MULTI_PATH));
  });
const misses = (ctx: ReadCtx) =>
  withSluice(ctx, 'misses', async (port) => {
    await warmUp(getSpec(ctx, [port], { mode: 'seq', start: WARM_FROM }));
    await flushCache(ctx.redis.url);
    return measure(ctx, 'misses', 'd. Sluice misses via Postgres', getSpec(ctx, [port], { mode: 'seq', start: MISS_FROM }));
  });

/**
 * The throughput scenarios and their `--only` group, in pairs: each baseline
 * right before the Sluice scenario a ratio compares it with, so the two halves
 * run within a minute of each other on a machine whose load drifts.
 */
export const THROUGHPUT: readonly { group: 'baselines' | 'sluice'; run: (ctx: ReadCtx) => Promise<void> }[] = [
  { group: 'baselines', run: bareGet },
  { group: 'sluice', run: hits },
  { group: 'baselines', run: bareMget },
  { group: 'sluice', run: multi },
  { group: 'baselines', run: naiveSelect },
  { group: 'sluice', run: misses },
  { group: 'baselines', run: bareGet2 },
  { group: 'sluice', run: hits2 },
];

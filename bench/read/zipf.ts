/** e. Zipf hit rates without and with the warmer; f. a stampede on one cold key. Figures from the gateways' /metrics. */
import http from 'node:http';
import { startService, startStack, stopAll } from '../lib/services.ts';
import { freePort } from '../lib/shared.ts';
import type { KeyPattern } from '../load/keys.ts';
import type { ReadCtx } from './index.ts';
import { getSpec, measure, sluiceOptions, withSluice } from './scenarios.ts';

const ZIPF_KEYS = 100_000;

/** Sum of a metric's samples (optionally only those whose labels contain `match`) over gateways. */
async function metric(ports: number[], name: string, match = ''): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(match)) total += Number(line.split(' ').pop());
  }
  return total;
}

async function lookups(ports: number[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of ['hit', 'stale', 'miss', 'request', 'bypass', 'error']) out[r] = await metric(ports, 'sluice_cache_lookups_total', `result="${r}"`);
  return out;
}

/** Delete cache entries and leases; the popularity set (`sluice:c:hot`) stays: it is what a warmer restarts from. */
export async function flushCache(redisUrl: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(redisUrl);
  for (const pattern of ['sluice:c:{*', 'sluice:cl:{*']) {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  }
  r.disconnect();
}

/**
 * The Zipf runs' settings. The warmer keeps every key the gateways' sampled
 * popularity knows (up to the whole key space); with it, it starts from the
 * popularity the run without it recorded. The popularity bound must hold the
 * warmer's top keys (the config refuses a smaller one: test/bench/bench-envs.test.ts).
 */
export const ZIPF_ENV: Readonly<Record<string, string>> = { SLUICE_CACHE_SOFT_TTL_S: '30', SLUICE_WARMER_TOP_KEYS: String(ZIPF_KEYS), SLUICE_POPULARITY_MAX_KEYS: String(ZIPF_KEYS), SLUICE_WARMER_INTERVAL_MS: '2000' };

/** e. Zipf(1) over 100 k keys, soft TTL 30 s, without and then with the warmer: hit rates from /metrics. */
export async function zipfRuns(ctx: ReadCtx): Promise<void> {
  const zipf: KeyPattern = { mode: 'zipf', n: ZIPF_KEYS, s: 1 };
  for (const withWarmer of [false, true]) {
    await flushCache(ctx.redis.url);
    const key = withWarmer ? 'zipfWithWarmer' : 'zipfNoWarmer';
    await withSluice(
      ctx,
      key,
      async (port) => {
        const before = await lookups([port]);
        const window = await measure(ctx, key, `e. Zipf(1) ${ZIPF_KEYS / 1000}k keys, ${ctx.o.zipfS} s, ${withWarmer ? 'with' : 'no'} warmer`, getSpec(ctx, [port], zipf, undefined, ctx.o.zipfS * 1000));
        const after = await lookups([port]);
        const d = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!]));
        const all = Object.values(d).reduce((x, y) => x + y, 0);
        ctx.extra[key] = { lookups: d, freshHitRate: d.hit! / all, servedFromCacheRate: (d.hit! + d.stale!) / all };
        return window;
      },
      ZIPF_ENV,
      withWarmer ? ['writer', 'gateway', 'warmer'] : ['writer', 'gateway'],
    );
  }
}

/** Fire `total` GETs at once (one socket each), spread over `ports`; resolves with the status counts. */
async function burst(ports: number[], path: string, total: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: total });
  const status: Record<string, number> = {};
  const count = (s: string) => (status[s] = (status[s] ?? 0) + 1);
  await Promise.all(
    Array.from({ length: total }, (_, i) =>
      new Promise<void>((resolve) => {
        const req = http.request({ agent, host: '127.0.0.1', port: ports[i % ports.length], path, method: 'GET' }, (res) => {
          res.resume();
          res.on('end', () => resolve(void count(String(res.statusCode))));
        });
        req.on('error', () => resolve(void count('error')));
        req.end();
      }),
    ),
  );
  agent.destroy();
  return status;
}

/**
 * f. 1,000 concurrent GETs of one cold key over 3 gateways: database reads,
 * summed from their /metrics. Gateways only: a warmer could fill the key first.
 */
export async function stampede(ctx: ReadCtx): Promise<void> {
  const first = sluiceOptions(ctx, 'stampede', await freePort());
  ctx.running.push(...(await startStack({ env: first.env }, ['gateway'])));
  const ports = [Number(first.env.SLUICE_PORT)];
  for (const name of ['gateway-2', 'gateway-3']) {
    const port = await freePort();
    ctx.running.push(await startService('gateway', { env: { ...first.env, SLUICE_PORT: String(port) } }, name));
    ports.push(port);
  }
  await flushCache(ctx.redis.url);
  const q0 = await metric(ports, 'sluice_read_db_queries_total');
  const status = await burst(ports, '/v1/tables/bench_kv/4242', 1000);
  ctx.extra.stampede = { requests: 1000, gateways: 3, status, databaseReads: (await metric(ports, 'sluice_read_db_queries_total')) - q0 };
  await stopAll(ctx.running);
}

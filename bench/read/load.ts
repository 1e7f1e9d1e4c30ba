/**
 * Closed-loop GET load generator for the read bench (own process, like
 * bench/load/generator.ts): `connections` keep-alive sockets, spread over
 * `ports`, each GET `path` with `{key}` chosen per request — one fixed key,
 * a fresh key per request (every one a miss), or Zipf(s) over 1…n. Prints
 * one JSON line (LoadResult).
 *
 *   tsx bench/read/load.ts '{"ports":[3000],"path":"/v1/tables/t/{key}","keys":{"mode":"zipf","n":100000,"s":1},"connections":50,"durationMs":10000}'
 */
import http from 'node:http';
import { summarize, type LoadResult } from '../load/generator.ts';

export type KeyPattern = { mode: 'fixed'; key: string } | { mode: 'seq'; start: number } | { mode: 'zipf'; n: number; s: number };

export interface ReadLoadSpec {
  ports: number[];
  path: string;
  keys: KeyPattern;
  connections: number;
  durationMs: number;
  headers?: Record<string, string>;
}

/** Inverse-CDF sampler of Zipf(s) over ranks 1…n (rank = key: key 1 is the hottest). */
export function zipfSampler(n: number, s: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / k ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = Math.random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

function keyFn(p: KeyPattern): () => string {
  if (p.mode === 'fixed') return () => p.key;
  if (p.mode === 'seq') {
    let i = p.start;
    return () => String(i++);
  }
  const z = zipfSampler(p.n, p.s);
  return () => String(z());
}

export async function runReadLoad(spec: ReadLoadSpec): Promise<LoadResult> {
  const agents = spec.ports.map(() => new http.Agent({ keepAlive: true, maxSockets: spec.connections }));
  const nextKey = keyFn(spec.keys);
  const status: Record<string, number> = {};
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  const tEnd = performance.now() + spec.durationMs;
  const one = (c: number): Promise<void> =>
    new Promise((resolve) => {
      const i = c % spec.ports.length;
      const start = performance.now();
      const req = http.request({ agent: agents[i], host: '127.0.0.1', port: spec.ports[i], path: spec.path.replace('{key}', nextKey()), method: 'GET', headers: spec.headers ?? {} }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          status[res.statusCode!] = (status[res.statusCode!] ?? 0) + 1;
          if (n === lat.length) {
            const next = new Float64Array(lat.length * 2);
            next.set(lat);
            lat = next;
          }
          lat[n++] = performance.now() - start;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: spec.connections }, async (_, c) => {
      while (performance.now() < tEnd) await one(c);
    }),
  );
  for (const a of agents) a.destroy();
  return summarize(lat, n, spec.durationMs, status, errors);
}

/** Fire `total` GETs at once (one socket each), spread over `ports`; resolves with the status counts. */
export async function burst(ports: number[], path: string, total: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: total });
  const status: Record<string, number> = {};
  await Promise.all(
    Array.from(
      { length: total },
      (_, i) =>
        new Promise<void>((resolve) => {
          const req = http.request({ agent, host: '127.0.0.1', port: ports[i % ports.length], path, method: 'GET' }, (res) => {
            res.on('data', () => {});
            res.on('end', () => {
              status[res.statusCode!] = (status[res.statusCode!] ?? 0) + 1;
              resolve();
            });
          });
          req.on('error', () => {
            status.error = (status.error ?? 0) + 1;
            resolve();
          });
          req.end();
        }),
    ),
  );
  agent.destroy();
  return status;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ReadLoadSpec & { burst?: number };
  const run = spec.burst !== undefined ? burst(spec.ports, spec.path, spec.burst) : runReadLoad(spec);
  run.then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(String(err) + '\n');
      process.exit(1);
    },
  );
}

/**
 * Closed-loop HTTP load generator, run as its own process so its CPU is not
 * charged to the server under test. `connections` keep-alive sockets each send
 * one request, wait for the answer, and send the next, for `durationMs`.
 * Prints one JSON line: counts by status and latency percentiles (ms).
 *
 *   tsx bench/load/generator.ts '{"url":"http://127.0.0.1:3000/v1/tables/t","connections":100,"durationMs":20000,"body":"{…}","headers":{}}'
 */
import http from 'node:http';

export interface LoadSpec {
  url: string;
  method?: string;
  connections: number;
  durationMs: number;
  /** Request body; `$i` is replaced by a per-request counter (for distinct keys). */
  body?: string;
  headers?: Record<string, string>;
  /** Ignore the first ms for latency stats (warm-up). */
  warmupMs?: number;
}

export interface LoadResult {
  requests: number;
  durationMs: number;
  rps: number;
  status: Record<string, number>;
  errors: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const status: Record<string, number> = {};
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  let counter = 0;
  const warmupMs = spec.warmupMs ?? 0;
  const t0 = performance.now();
  const tEnd = t0 + warmupMs + spec.durationMs;
  const templ = spec.body ?? '';
  const hasVar = templ.includes('$i');

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const body = hasVar ? templ.replaceAll('$i', String(counter++)) : templ;
      const start = performance.now();
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: spec.method ?? 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...spec.headers } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            const end = performance.now();
            if (start - t0 >= warmupMs) {
              status[res.statusCode!] = (status[res.statusCode!] ?? 0) + 1;
              if (n === lat.length) {
                const next = new Float64Array(lat.length * 2);
                next.set(lat);
                lat = next;
              }
              lat[n++] = end - start;
            }
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });

  const loop = async () => {
    while (performance.now() < tEnd) await one();
  };
  await Promise.all(Array.from({ length: spec.connections }, loop));
  agent.destroy();
  return summarize(lat, n, spec.durationMs, status, errors);
}

/** Turn `n` recorded latencies (ms) into a LoadResult; shared by every load generator in bench/. */
export function summarize(lat: Float64Array, n: number, durationMs: number, status: Record<string, number>, errors: number): LoadResult {
  const sorted = lat.slice(0, n).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    requests: n,
    durationMs,
    rps: n / (durationMs / 1000),
    status,
    errors,
    latencyMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[n - 1] ?? 0, mean: n ? sum / n : 0 },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err: unknown) => {
      process.stderr.write(String(err) + '\n');
      process.exit(1);
    },
  );
}

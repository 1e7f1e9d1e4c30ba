/**
 * `pnpm bench flags`: feature-flag evaluation and propagation, on this machine
 * in one run (ratios are what compare):
 *   a. evaluations/s of one gateway (as `pnpm start:gateway` runs it) —
 *      single `GET /v1/flags/{name}?userId=` and bulk `POST /v1/flags/evaluate`
 *      of 10 flags — against a bare Hono server answering a constant in the
 *      same shapes (bench/baselines/bare-hono-const.ts), in turns, two rounds,
 *      a fresh user per request (bench/load/ generator); CPU µs per request
 *      of every process from /proc;
 *   b. propagation over `changes` admin changes through 3 gateways in turn:
 *      PUT answered → every gateway's `GET /v1/flags/stream` carried the new
 *      version (each gateway sends it there once it evaluates it), p50/p99/p100.
 */
import { startPostgres, startRedis, createLogger, createPool, freePort, migrate } from '../lib/shared.ts';
import { drive, warmUp } from '../lib/drive.ts';
import { cpuPer, printRatios, printTable, runId, writeResults, type Row } from '../lib/report.ts';
import { startBaseline, startService, stopAll, tracked, type Running } from '../lib/services.ts';
import type { Tracked } from '../lib/cpu.ts';
import type { LoadSpec } from '../load/generator.ts';
import { measurePropagation, type PropagationResult } from './propagation.ts';

/** Options of the flags bench (see bench/run.ts for the flags). */
export interface FlagsBenchOptions {
  durationS: number;
  connections: number;
  /** Admin changes timed in the propagation part. */
  changes: number;
}

const BULK_FLAGS = 10;
const NAMES = Array.from({ length: BULK_FLAGS }, (_, i) => `bench-flag-${i}`);

/** The two request shapes, for a target on `port`. */
function specs(port: number, o: FlagsBenchOptions): { single: LoadSpec; bulk: LoadSpec } {
  const base = { ports: [port], connections: o.connections, durationMs: o.durationS * 1000, keys: { mode: 'seq' as const, start: 1 } };
  return {
    single: { ...base, name: '', method: 'GET', path: '/v1/flags/bench-flag-0?userId=user-{key}' },
    bulk: { ...base, name: '', method: 'POST', path: '/v1/flags/evaluate', body: JSON.stringify({ userId: 'user-{key}', flags: NAMES }) },
  };
}

async function put(port: number, name: string, body: object): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/admin/flags/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`PUT ${name} answered ${res.status}: ${await res.text()}`);
}

/** Run the bench: print the tables, write bench/results/flags-<time>.json. */
export async function runFlagsBench(o: FlagsBenchOptions): Promise<void> {
  const run = runId('flags');
  const pg = await startPostgres();
  const redis = await startRedis({ appendfsync: 'everysec' });
  const running: Running[] = [];
  const rows: Row[] = [];
  let propagation: PropagationResult | undefined;
  try {
    const pool = createPool({ url: pg.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60_000, applicationName: 'bench', log: createLogger('bench', 'warn') });
    await migrate(pool);
    await pool.query('CREATE TABLE bench_kv (id int PRIMARY KEY, v text)');
    await pool.end();
    const env = (port: number) => ({ DATABASE_URL: pg.url, REDIS_URL: redis.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port) });

    // a. Throughput: the baseline and one gateway side by side, measured in turns.
    const [bport, gport] = [await freePort(), await freePort()];
    const bare = await startBaseline('bench/baselines/bare-hono-const.ts', [String(bport)], 'bare-hono-const');
    running.push(bare);
    const gateway = await startService('gateway', { env: env(gport) }, 'gateway-0');
    running.push(gateway);
    // Half the users in each flag's rollout: both branches of the evaluation run.
    for (const name of NAMES) await put(gport, name, { enabled: true, rollout: 50 });
    const servers: Tracked[] = [{ name: 'redis', pid: redis.pid }, { name: 'postgres', pid: pg.pid }];
    const targets = [
      { target: 'bare Hono (constant)', port: bport, proc: bare },
      { target: 'gateway', port: gport, proc: gateway },
    ];
    for (const t of targets) for (const s of Object.values(specs(t.port, o))) await warmUp({ ...s, name: 'warm-up' }, 2000);
    for (let round = 1; round <= 2; round += 1) {
      for (const shape of ['single', 'bulk'] as const) {
        for (const t of targets) {
          const spec = specs(t.port, o)[shape];
          const label = `${t.target}, ${shape === 'single' ? 'GET one flag' : `POST ${BULK_FLAGS} flags`}, round ${round}`;
          process.stderr.write(`\n${label}\n`);
          const m = await drive({ ...spec, name: label }, [...tracked([t.proc]), ...servers]);
          const l = m.load;
          const evals = shape === 'single' ? 1 : BULK_FLAGS;
          const ok = l.status['200'] ?? 0;
          rows.push({
            target: t.target,
            request: shape === 'single' ? 'GET /v1/flags/{name}' : `POST evaluate ×${BULK_FLAGS}`,
            round,
            'req/s': l.rps,
            'evals/s': l.rps * evals,
            p50: l.latencyMs.p50,
            p99: l.latencyMs.p99,
            'not 200': l.requests - ok + l.errors + l.unfinished,
            'app µs/eval': m.cpuUs.app! / (l.requests * evals),
            // No writer or warmer runs here: their columns would only be empty.
            ...Object.fromEntries(Object.entries(cpuPer(m.cpuUs, l.requests)).filter(([k]) => k !== 'writer' && k !== 'warmer').map(([k, v]) => [`${k} µs/req`, v])),
          });
        }
      }
    }
    await stopAll(running);

    // b. Propagation through 3 gateways.
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const [i, p] of ports.entries()) running.push(await startService('gateway', { env: env(p) }, `gateway-${i}`));
    process.stderr.write(`\npropagation: ${o.changes} changes through 3 gateways\n`);
    propagation = await measurePropagation(ports.map((p) => `http://127.0.0.1:${p}`), o.changes);
  } finally {
    await stopAll(running);
    await redis.stop();
    await pg.stop();
  }

  printTable(`Flag evaluation, ${o.connections} connections, ${o.durationS} s per run, a new userId per request (ms; CPU µs per request by process)`, rows);
  const avg = (target: string, request: string, col: string) => {
    const xs = rows.filter((r) => r.target === target && String(r.request).startsWith(request)).map((r) => r[col] as number);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const ratio = (request: string, col: string) => avg('gateway', request, col) / avg('bare Hono (constant)', request, col);
  printRatios('Gateway / bare Hono constant (mean of the rounds)', [
    { name: 'single GET req/s', value: ratio('GET', 'req/s'), target: 'report' },
    { name: 'bulk POST (10 flags) req/s', value: ratio('POST', 'req/s'), target: 'report' },
    { name: 'single GET app CPU µs/req', value: ratio('GET', 'app µs/req'), target: 'report' },
    { name: 'bulk POST app CPU µs/req', value: ratio('POST', 'app µs/req'), target: 'report' },
  ]);
  const p = propagation!;
  printTable(`Propagation over ${p.changes} changes through 3 gateways in turn (ms): the last gateway's stream carried the new version`, [
    { from: 'PUT answered (≤ 0: before the answer was read)', ...p.afterReturn },
    { from: 'PUT sent', ...p.afterSend },
  ]);
  process.stdout.write(`p100 per gateway after the PUT's answer: ${p.perGatewayP100.map((x) => x.toFixed(1)).join(', ')} ms; changes some gateway carried only after the answer: ${p.arrivedAfterReturn} of ${p.changes}\n`);
  process.stdout.write(`\nresults: ${writeResults(run, { run, at: new Date().toISOString(), options: o, rows, propagation })}\n`);
}

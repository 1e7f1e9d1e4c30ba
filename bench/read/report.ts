/** The read bench's table, ratios (the targets) and results file. */
import type { CpuSample } from '../lib/cpu.ts';
import type { Measured } from '../lib/drive.ts';
import { cpuPer, printProfiles, printRatios, printTable, writeResults, type Ratio, type Row } from '../lib/report.ts';
import type { ReadCtx, ReadResult } from './index.ts';

function row(r: ReadResult): Row {
  const l = r.measured.load;
  const bad = Object.entries(l.status).filter(([s]) => !s.startsWith('2')).reduce((n, [, c]) => n + c, 0) + l.errors;
  return { scenario: r.scenario, 'req/s': l.rps, p50: l.latencyMs.p50, p95: l.latencyMs.p95, p99: l.latencyMs.p99, 'non-2xx': bad, ...cpuPer(r.measured.cpuUs, l.requests) };
}

/**
 * The runs measured under one key as one: requests, time and CPU added up
 * (the views' table and view reads run twice each, A B B A).
 */
function pooled(runs: Measured[]): Measured | undefined {
  if (runs.length <= 1) return runs[0];
  const cpuUs: CpuSample = {};
  for (const r of runs) for (const [c, us] of Object.entries(r.cpuUs)) cpuUs[c] = (cpuUs[c] ?? 0) + us;
  const requests = runs.reduce((n, r) => n + r.load.requests, 0);
  const durationMs = runs.reduce((n, r) => n + r.load.durationMs, 0);
  return { ...runs[0]!, cpuUs, load: { ...runs[0]!.load, requests, durationMs, rps: (requests / durationMs) * 1000 } };
}

function ratios(ctx: ReadCtx): Ratio[] {
  const by = (k: string) => pooled(ctx.results.filter((r) => r.key === k).map((r) => r.measured));
  const rps = (k: string) => by(k)?.load.rps;
  const app = (k: string) => {
    const m = by(k);
    return m ? (m.cpuUs.app ?? 0) / m.load.requests : undefined;
  };
  const servers = (k: string) => {
    const m = by(k);
    return m ? ((cpuPer(m.cpuUs, m.load.requests)['servers'] as number | null) ?? undefined) : undefined;
  };
  const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b !== 0 ? a / b : null);
  const z = (k: string) => ctx.extra[k] as { freshHitRate: number; servedFromCacheRate: number } | undefined;
  const st = ctx.extra.stampede as { databaseReads: number } | undefined;
  return [
    { name: 'hits req/s ÷ bare GET', value: div(rps('hits'), rps('bareGet')), target: '≥ 0.85' },
    { name: 'gateway CPU/hit ÷ bare CPU/GET', value: div(app('hits'), app('bareGet')), target: '≤ 1.25' },
    { name: 'misses req/s ÷ naive SELECT', value: div(rps('misses'), rps('naiveSelect')), target: '≥ 1.0' },
    { name: 'multi-get ÷ bare MGET', value: div(rps('multi'), rps('bareMget')), target: '—' },
    { name: '2 gateways ÷ 1 (hits)', value: div(rps('hits2'), rps('hits')), target: '—' },
    { name: '2 bare processes ÷ 1', value: div(rps('bareGet2'), rps('bareGet')), target: '—' },
    { name: 'Zipf fresh hit rate, no warmer', value: z('zipfNoWarmer')?.freshHitRate ?? null, target: '—' },
    { name: 'Zipf fresh hit rate, with warmer', value: z('zipfWithWarmer')?.freshHitRate ?? null, target: '≥ 0.98' },
    { name: 'stampede database reads', value: st?.databaseReads ?? null, target: '1' },
    { name: 'view reads ÷ table hits (req/s)', value: div(rps('viewHits'), rps('viewTableHits')), target: '≈ 1' },
    { name: 'gateway CPU/view read ÷ CPU/table hit', value: div(app('viewHits'), app('viewTableHits')), target: '≈ 1' },
    { name: 'servers CPU: GROUP BY ÷ view read', value: div(servers('naiveAggregate'), servers('viewHits')), target: '—' },
    { name: 'view reads ÷ GROUP BY per request', value: div(rps('viewHits'), rps('naiveAggregate')), target: '≥ 20' },
    { name: 'load generator µs/req (bare GET)', value: by('bareGet') ? by('bareGet')!.cpuUs.loadgen! / by('bareGet')!.load.requests : null, target: '—' },
  ];
}

/** Print the table and ratios; write them (and every measurement) to bench/results/<run>.json. */
export function report(ctx: ReadCtx): void {
  printTable(
    `HTTP reads: ${ctx.o.connections} keep-alive connections, ${ctx.o.durationS} s per throughput run. ` +
      'Latency in ms; CPU µs per request by process (app = the gateway(s) or the baseline server; servers = all but the load generator)',
    [...ctx.results].sort((a, b) => a.scenario.localeCompare(b.scenario)).map(row),
  );
  const r = ratios(ctx);
  printRatios('Ratios, all from this run (issue #10 targets; views: issue #14)', r);
  for (const [scenario, p] of Object.entries(ctx.profiles)) printProfiles(`Profile under ${scenario}`, p);
  const file = writeResults(ctx.run, { run: ctx.run, at: new Date().toISOString(), options: ctx.o, results: ctx.results, extra: ctx.extra, ratios: r, profiles: ctx.profiles });
  process.stdout.write(`\nresults: ${file}\n`);
}

/**
 * `pnpm bench loadgen`: what the load generator costs. The bare Hono POST
 * baseline driven by bench/load/generator.ts (node:net, one request in flight
 * per keep-alive connection) and, when installed, by `wrk` (Debian package
 * `wrk`) with 1 and 2 threads, in turns. A generator is cheap enough when the
 * server, not it, sets the pace: compare req/s and the CPU each spends per request.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuDelta, sampleCpu } from '../lib/cpu.ts';
import { drive, warmUp } from '../lib/drive.ts';
import { printTable, runId, writeResults, type Row } from '../lib/report.ts';
import { startBaseline, stopAll, tracked, type Running } from '../lib/services.ts';
import { freePort } from '../lib/shared.ts';
import type { LoadSpec } from '../load/generator.ts';
import { ROW_BODY } from '../write/scenarios.ts';

/** Options of the generator comparison. */
export interface LoadgenBenchOptions {
  durationS: number;
  connections: number;
}

const TICK_US = 10_000;

/** CPU (µs) of the children this process has reaped so far (a finished wrk is one). */
function reapedChildrenCpuUs(): number {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * TICK_US;
}

function wrkScript(): string {
  const file = join(tmpdir(), `sluice-bench-wrk-${process.pid}.lua`);
  writeFileSync(
    file,
    `wrk.method = "POST"\nwrk.body = [[${ROW_BODY}]]\nwrk.headers["content-type"] = "application/json"\n` +
      'done = function(s, lat)\n' +
      '  io.write(string.format(\'{"requests":%d,"us":%d,"p50":%d,"p95":%d,"p99":%d,"bad":%d}\\n\', s.requests, s.duration, lat:percentile(50), lat:percentile(95), lat:percentile(99), s.errors.status + s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))\n' +
      'end\n',
  );
  return file;
}

async function runWrk(threads: number, port: number, o: LoadgenBenchOptions, server: Running[]): Promise<Row> {
  const c0 = reapedChildrenCpuUs();
  const s0 = sampleCpu(tracked(server));
  const child = spawn('wrk', [`-t${threads}`, `-c${o.connections}`, `-d${o.durationS}s`, '-s', wrkScript(), `http://127.0.0.1:${port}/v1/tables/bench_events`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await once(child, 'exit');
  const server1 = sampleCpu(tracked(server));
  const r = JSON.parse(out.slice(out.indexOf('{'))) as { requests: number; us: number; p50: number; p95: number; p99: number; bad: number };
  return {
    generator: `wrk -t${threads}`,
    'req/s': (r.requests / r.us) * 1e6,
    p50: r.p50 / 1000,
    p95: r.p95 / 1000,
    p99: r.p99 / 1000,
    'not 2xx': r.bad,
    'generator µs/req': (reapedChildrenCpuUs() - c0) / r.requests,
    'server µs/req': cpuDelta(s0, server1).app! / r.requests,
  };
}

async function hasWrk(): Promise<boolean> {
  const child = spawn('wrk', ['--version'], { stdio: 'ignore' });
  return new Promise((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', () => resolve(true));
  });
}

/** Run the comparison (two rounds, in turns) and print one table. */
export async function runLoadgenBench(o: LoadgenBenchOptions): Promise<void> {
  const run = runId('loadgen');
  const port = await freePort();
  const server: Running[] = [await startBaseline('bench/baselines/bare-hono.ts', [String(port)], 'bare-hono')];
  const rows: Row[] = [];
  try {
    const spec: LoadSpec = { name: 'node:net generator', ports: [port], method: 'POST', path: '/v1/tables/bench_events', body: ROW_BODY, connections: o.connections, durationMs: o.durationS * 1000 };
    await warmUp(spec);
    const wrk = await hasWrk();
    if (!wrk) process.stderr.write('wrk not installed (Debian package `wrk`): measuring the node:net generator only\n');
    for (let round = 0; round < 2; round++) {
      const m = await drive(spec, tracked(server));
      const l = m.load;
      rows.push({ generator: 'node:net (bench/load)', 'req/s': l.rps, p50: l.latencyMs.p50, p95: l.latencyMs.p95, p99: l.latencyMs.p99, 'not 2xx': l.requests - (l.status['202'] ?? 0) + l.errors, 'generator µs/req': m.cpuUs.loadgen! / l.requests, 'server µs/req': m.cpuUs.app! / l.requests });
      if (wrk) for (const threads of [1, 2]) rows.push(await runWrk(threads, port, o, server));
    }
  } finally {
    await stopAll(server);
  }
  printTable(`Load generators against the bare Hono POST, ${o.connections} connections, ${o.durationS} s each (two rounds, in turns)`, rows);
  process.stdout.write(`\nresults: ${writeResults(run, { run, at: new Date().toISOString(), options: o, rows })}\n`);
}

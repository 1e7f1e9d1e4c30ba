/**
 * `pnpm bench soak [--minutes M] [--clients N]`: a long run of mixed load
 * (unique inserts and per-key sequential upserts, `queued` and `committed`
 * acks) through one gateway and two writers on private Postgres and Redis,
 * while a writer is SIGKILLed every 30 s (and restarted at once) and Redis is
 * SIGKILLed once, halfway, and restarted on the same AOF folder. At the end
 * the fault suite's set checker reads the database back. Not a test: it
 * prints the figures and writes JSON to bench/results/.
 */
import type { TsProcess } from '../lib/shared.ts';
import { startCluster, type FaultCluster } from '../../test/faults/support/cluster.ts';
import { check, type Op, type Verdict } from '../../test/faults/support/history.ts';
import { startLoad, type LoadDriver } from '../../test/faults/support/load.ts';
import { printTable, runId, writeResults } from '../lib/report.ts';

/** Options of the soak run. */
export interface SoakOptions {
  minutes: number;
  clients: number;
  /** Seconds between writer kills. */
  killEveryS: number;
}

/** A fault and how long the clients felt it. */
interface FaultWindow {
  kind: 'writer-kill' | 'redis-restart';
  at: number;
  /** ms from the fault until a write sent just after it was answered `committed` (writer) / acknowledged again (Redis). */
  recoveryMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const elapsed = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

/**
 * Takeover as the clients saw it: the slowest committed answer to a write
 * sent in the second after `at`; if none was sent then (or none answered ok),
 * the answer to the first committed write sent after `at`.
 */
function takeoverMs(ops: readonly Op[], at: number): number {
  const committed = ops.filter((o) => o.ack === 'committed' && o.start >= at && o.outcome === 'ok');
  const probes = committed.filter((o) => o.start < at + 1000);
  if (probes.length > 0) return Math.max(...probes.map((o) => o.end - at));
  const first = committed.reduce<Op | undefined>((a, o) => (a === undefined || o.start < a.start ? o : a), undefined);
  return first === undefined ? Number.NaN : first.end - at;
}

/** Kill a writer every `killEveryS`, restart it at once; SIGKILL Redis once halfway. */
async function runFaults(cluster: FaultCluster, writers: TsProcess[], load: LoadDriver, o: SoakOptions, t0: number): Promise<FaultWindow[]> {
  const end = t0 + o.minutes * 60_000;
  // Halfway, but between two writer kills, so the two faults' recoveries are measured apart.
  const period = o.killEveryS * 1000;
  const redisAt = t0 + Math.floor((o.minutes * 60_000) / 2 / period) * period + period / 2;
  let redisDone = false;
  const windows: FaultWindow[] = [];
  for (let k = 0; ; k++) {
    const next = Math.min(t0 + (k + 1) * o.killEveryS * 1000, end);
    while (performance.now() < next) {
      if (!redisDone && performance.now() >= redisAt) {
        redisDone = true;
        const at = performance.now();
        cluster.redis.kill('SIGKILL');
        await cluster.redis.start();
        windows.push({ kind: 'redis-restart', at, recoveryMs: Number.NaN });
        process.stdout.write(`[${elapsed(t0)}] Redis SIGKILLed and restarted on its AOF dir\n`);
      }
      await sleep(100);
    }
    if (performance.now() >= end) break;
    const i = k % writers.length;
    const at = performance.now();
    writers[i]!.kill('SIGKILL');
    await writers[i]!.exited;
    writers[i] = await cluster.startWriter(`writer-${i}`);
    windows.push({ kind: 'writer-kill', at, recoveryMs: Number.NaN });
    process.stdout.write(`[${elapsed(t0)}] writer-${i} SIGKILLed and restarted; ${load.acknowledged} acknowledged so far\n`);
  }
  return windows;
}

/** Recovery of each fault, measured from the op log once the run is over. */
function measure(windows: FaultWindow[], ops: readonly Op[]): void {
  for (const w of windows) {
    if (w.kind === 'writer-kill') w.recoveryMs = takeoverMs(ops, w.at);
    else {
      const firstAck = ops.filter((op) => op.start >= w.at && op.outcome === 'ok').reduce((m, op) => Math.min(m, op.end), Number.POSITIVE_INFINITY);
      w.recoveryMs = firstAck - w.at;
    }
  }
}

/** p99 ack latency of acknowledged ops that overlap no fault window (fault → recovered + 1 s). */
function p99OutsideFaults(ops: readonly Op[], windows: readonly FaultWindow[]): { p99: number; n: number } {
  const spans = windows.map((w) => [w.at, w.at + (Number.isFinite(w.recoveryMs) ? w.recoveryMs : 10_000) + 1000] as const);
  const calm = ops.filter((o) => o.outcome === 'ok' && !spans.some(([a, b]) => o.end >= a && o.start <= b)).map((o) => o.end - o.start).sort((a, b) => a - b);
  return { p99: calm[Math.min(calm.length - 1, Math.floor(0.99 * calm.length))] ?? 0, n: calm.length };
}

/** Run the soak (see the module comment). */
export async function runSoak(o: SoakOptions): Promise<void> {
  // Production settings for the timing knobs (the fault suite shortens them).
  const cluster = await startCluster({ env: { NODE_ENV: 'production', SLUICE_LOCK_DURATION_MS: '', SLUICE_STATEMENT_TIMEOUT_MS: '', SLUICE_PG_CONNECT_TIMEOUT_MS: '', SLUICE_REDIS_TIMEOUT_MS: '' } });
  try {
    const gateway = await cluster.startGateway();
    const writers = [await cluster.startWriter('writer-0'), await cluster.startWriter('writer-1')];
    process.stdout.write(`soak: ${o.minutes} min, ${o.clients} clients, a writer SIGKILLed every ${o.killEveryS} s, Redis restarted once\n`);
    const load = startLoad({ urls: [gateway.url], clients: o.clients, keysPerClient: 8, paceMs: 10, timeoutMs: 30_000 });
    const t0 = performance.now();
    const windows = await runFaults(cluster, writers, load, o, t0);
    const history = await load.stop();
    const drainT0 = performance.now();
    let verdict: Verdict;
    for (;;) {
      verdict = await check(cluster.pool, history);
      if ((verdict.lost.length === 0 && (await cluster.backlog()) === 0) || performance.now() - drainT0 > 120_000) break;
      await sleep(500);
    }
    measure(windows, history.ops);
    const dead = Number((await cluster.pool.query<{ n: string }>('SELECT count(*) AS n FROM sluice.dead_letters')).rows[0]!.n);
    const calm = p99OutsideFaults(history.ops, windows);
    const kills = windows.filter((w) => w.kind === 'writer-kill');
    const maxTakeoverMs = Math.max(0, ...kills.map((w) => w.recoveryMs).filter(Number.isFinite));
    const summary = {
      minutes: o.minutes,
      attempted: verdict.attempted,
      acknowledged: verdict.acknowledged,
      failed: verdict.failed,
      unknown: verdict.unknown,
      committed: verdict.committed,
      lost: verdict.lost.length,
      duplicated: verdict.duplicates.length,
      unexpected: verdict.unexpected.length,
      orderViolations: verdict.orderViolations.length,
      refusedButApplied: verdict.failedButCommitted.length,
      deadLettered: dead,
      writerKills: kills.length,
      maxTakeoverMs: Math.round(maxTakeoverMs),
      redisRecoveryMs: Math.round(windows.find((w) => w.kind === 'redis-restart')?.recoveryMs ?? Number.NaN),
      p99AckMsOutsideFaults: Math.round(calm.p99),
    };
    printTable('Soak', [summary]);
    printTable('Faults', windows.map((w) => ({ kind: w.kind, 'at s': Math.round((w.at - t0) / 1000), 'recovery ms': Math.round(w.recoveryMs) })));
    const file = writeResults(runId('soak'), { at: new Date().toISOString(), options: o, summary, windows: windows.map((w) => ({ ...w, at: w.at - t0 })), samples: { lost: verdict.lost.slice(0, 20), duplicates: verdict.duplicates.slice(0, 20), orderViolations: verdict.orderViolations.slice(0, 20) } });
    process.stdout.write(`\nresults: ${file}\n`);
    if (summary.lost > 0 || summary.duplicated > 0) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

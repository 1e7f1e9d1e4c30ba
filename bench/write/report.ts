/** The write bench's tables, ratios (the targets) and results file. */
import type { ProfileSummary } from '../lib/profile.ts';
import { cpuPer, printProfiles, printRatios, printTable, writeResults, type Ratio, type Row } from '../lib/report.ts';
import type { RowsRun } from './drain.ts';
import type { WriteBenchOptions } from './index.ts';
import { ROW_BODY, perRow, type WriteResult } from './scenarios.ts';

function non2xx(r: WriteResult): number {
  return Object.entries(r.measured.load.status).filter(([s]) => !s.startsWith('2')).reduce((n, [, c]) => n + c, 0) + r.measured.load.errors;
}

function row(r: WriteResult): Row {
  const l = r.measured.load;
  return {
    scenario: r.scenario,
    'req/s': l.rps,
    'rows/s': r.rows > 0 ? (r.rows / r.measured.windowMs) * 1000 : null,
    p50: l.latencyMs.p50,
    p95: l.latencyMs.p95,
    p99: l.latencyMs.p99,
    'non-2xx': non2xx(r),
    ...cpuPer(r.measured.cpuUs, l.requests),
    'pg/row': perRow(r.measured.cpuUs, r.rows, 'postgres'),
    'rows/txn': r.rows > 0 ? rowsPerTxn(r) : null,
    'rows/xid': r.txns > 0 ? r.rows / r.txns : null,
  };
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null && b !== 0 ? a / b : null);

/** The figures the targets name, all from this run. */
function ratios(results: WriteResult[], drain: { drain: RowsRun; copy: RowsRun } | undefined): Ratio[] {
  const by = (k: string) => results.find((r) => r.key === k);
  const [bare, naive, queued, committed] = [by('bare'), by('naive'), by('queued'), by('committed')];
  const appPerReq = (r: WriteResult | undefined) => (r ? (r.measured.cpuUs.app ?? 0) / r.measured.load.requests : null);
  const pgPerRow = (r: WriteResult | undefined) => (r ? perRow(r.measured.cpuUs, r.rows, 'postgres') : null);
  return [
    { name: 'queued writes/s ÷ bare req/s', value: ratio(queued?.measured.load.rps, bare?.measured.load.rps), target: '≥ 0.6' },
    { name: 'gateway CPU/write ÷ bare CPU/req', value: ratio(appPerReq(queued), appPerReq(bare)), target: '≤ 1.5' },
    { name: 'Postgres CPU/row naive ÷ queued', value: ratio(pgPerRow(naive), pgPerRow(queued)), target: '≥ 12' },
    { name: 'writer µs/row (queued)', value: queued ? perRow(queued.measured.cpuUs, queued.rows, 'writer') : null, target: '≤ 25' },
    { name: 'Redis µs/row (queued)', value: queued ? perRow(queued.measured.cpuUs, queued.rows, 'redis') : null, target: '≤ 12' },
    { name: 'queued p95 ms', value: queued?.measured.load.latencyMs.p95 ?? null, target: '≤ 20' },
    { name: 'committed p95 ms', value: committed?.measured.load.latencyMs.p95 ?? null, target: '≤ 40' },
    { name: 'drain rows/s ÷ COPY rows/s', value: drain ? drain.drain.rowsPerSec / drain.copy.rowsPerSec : null, target: '≥ 0.5' },
    ...confirmRatios(by('queued'), by('queued-confirm'), by('committed'), by('committed-confirm')),
    ...pairRatios(results),
    ...retentionRatios(results),
    { name: 'load generator µs/req (bare)', value: bare ? (bare.measured.cpuUs.loadgen ?? 0) / bare.measured.load.requests : null, target: '—' },
  ];
}

/** With `--replica`: what confirmation on the replica costs, each pair from this run. */
function confirmRatios(q: WriteResult | undefined, qc: WriteResult | undefined, c: WriteResult | undefined, cc: WriteResult | undefined): Ratio[] {
  if (qc === undefined && cc === undefined) return [];
  const rows = (r: WriteResult | undefined) => (r && r.rows > 0 ? (r.rows / r.measured.windowMs) * 1000 : null);
  const p95 = (r: WriteResult | undefined) => r?.measured.load.latencyMs.p95;
  return [
    { name: 'queued writes/s: confirmed ÷ not', value: ratio(qc?.measured.load.rps, q?.measured.load.rps), target: '—' },
    { name: 'queued rows committed/s: confirmed ÷ not', value: ratio(rows(qc), rows(q)), target: '—' },
    { name: 'queued p95: confirmed ÷ not', value: ratio(p95(qc), p95(q)), target: '—' },
    { name: 'committed writes/s: confirmed ÷ not', value: ratio(cc?.measured.load.rps, c?.measured.load.rps), target: '—' },
    { name: 'committed p95: confirmed ÷ not', value: ratio(p95(cc), p95(c)), target: '—' },
    { name: 'rows/txn (queued): confirmed ÷ not', value: ratio(qc && qc.commits > 0 ? qc.rows / qc.commits : null, q && q.commits > 0 ? q.rows / q.commits : null), target: '—' },
    // What Redis holds while jobs wait for the standby: used_memory over the load, above what it held before it.
    ...heldPair('queued', q, qc),
    ...heldPair('committed', c, cc),
  ];
}

const MB = 1024 * 1024;
const held = (r: WriteResult | undefined) => (r?.redisHeld ? (r.redisHeld.usedBytesMean - r.redisHeld.usedBytesBefore) / MB : null);

function heldPair(ack: string, off: WriteResult | undefined, on: WriteResult | undefined): Ratio[] {
  if (off?.redisHeld === undefined || on?.redisHeld === undefined) return [];
  return [
    { name: `${ack}: Redis used_memory over the load, MB above idle (not confirmed)`, value: held(off), target: '—' },
    { name: `${ack}: Redis used_memory over the load, MB above idle (confirmed)`, value: held(on), target: '—' },
    { name: `${ack}: Redis used_memory over the load, MB above idle: confirmed ÷ not`, value: ratio(held(on), held(off)), target: '—' },
    { name: `${ack}: Redis used_memory max MB (not confirmed)`, value: off.redisHeld.usedBytesMax / MB, target: '—' },
    { name: `${ack}: Redis used_memory max MB (confirmed)`, value: on.redisHeld.usedBytesMax / MB, target: '—' },
    { name: `${ack}: jobs taken, not completed, mean (not confirmed)`, value: off.redisHeld.activeJobsMean, target: '—' },
    { name: `${ack}: jobs taken, not completed, mean (confirmed)`, value: on.redisHeld.activeJobsMean, target: '—' },
  ];
}

const rowsPerTxn = (r: WriteResult | undefined) => (r && r.commits > 0 ? r.rows / r.commits : null);
const rowsPerXid = (r: WriteResult | undefined) => (r && r.txns > 0 ? r.rows / r.txns : null);

/**
 * A setting run both ways back to back (`--group-commit off,on`,
 * `--adaptive-linger off,on`): what it changes, each pair from this run. The
 * default's runs keep the plain keys (`queued`), the other's end in `offSuffix`.
 */
const PAIRS = [
  { offSuffix: '-gc-off', what: 'group commit on ÷ off' },
  { offSuffix: '-linger-fixed', what: 'adaptive ÷ fixed linger' },
];

function pairRatios(results: WriteResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const { offSuffix, what } of PAIRS)
    for (const ack of ['queued', 'committed']) {
      const on = results.find((r) => r.key === ack);
      const off = results.find((r) => r.key === `${ack}${offSuffix}`);
      if (on === undefined || off === undefined) continue;
      const usPerRow = (r: WriteResult, c: string) => perRow(r.measured.cpuUs, r.rows, c);
      out.push(
        { name: `${ack} writes/s: ${what}`, value: ratio(on.measured.load.rps, off.measured.load.rps), target: '—' },
        { name: `${ack} p50: ${what}`, value: ratio(on.measured.load.latencyMs.p50, off.measured.load.latencyMs.p50), target: '—' },
        { name: `${ack} p95: ${what}`, value: ratio(on.measured.load.latencyMs.p95, off.measured.load.latencyMs.p95), target: '—' },
        { name: `${ack} rows/txn: ${what}`, value: ratio(rowsPerTxn(on), rowsPerTxn(off)), target: '—' },
        { name: `${ack} rows per inserting transaction: ${what}`, value: ratio(rowsPerXid(on), rowsPerXid(off)), target: '—' },
        ...['writer', 'postgres', 'redis', 'app'].map((c) => ({ name: `${ack} ${c} µs/row: ${what}`, value: ratio(usPerRow(on, c), usPerRow(off, c)), target: '—' })),
      );
    }
  return out;
}

/** With `--retention ROWS`: what deleting old dedupe records costs the write path, from this run (deleting ÷ idle). */
function retentionRatios(results: WriteResult[]): Ratio[] {
  const idle = results.find((r) => r.key === 'queued-retention-idle');
  const del = results.find((r) => r.key === 'queued-retention-deleting');
  if (idle === undefined || del === undefined) return [];
  const usPerRow = (r: WriteResult, c: string) => perRow(r.measured.cpuUs, r.rows, c);
  return [
    { name: 'old dedupe records deleted during the deleting run', value: del.oldRecords ? del.oldRecords.laid - del.oldRecords.left : null, target: '—' },
    { name: 'queued writes/s: retention deleting ÷ idle', value: ratio(del.measured.load.rps, idle.measured.load.rps), target: '—' },
    { name: 'queued p95: retention deleting ÷ idle', value: ratio(del.measured.load.latencyMs.p95, idle.measured.load.latencyMs.p95), target: '—' },
    { name: 'queued Postgres µs/row: retention deleting ÷ idle', value: ratio(usPerRow(del, 'postgres'), usPerRow(idle, 'postgres')), target: '—' },
    { name: 'queued writer µs/row: retention deleting ÷ idle', value: ratio(usPerRow(del, 'writer'), usPerRow(idle, 'writer')), target: '—' },
  ];
}

/** With a pair (`--group-commit`, `--adaptive-linger`): CPU per committed row by process, and rows per transaction, for each setting. */
function pairTables(results: WriteResult[]): void {
  for (const { offSuffix, what } of PAIRS) {
    const paired = results.filter((r) => r.key.endsWith(offSuffix) || results.some((o) => o.key === `${r.key}${offSuffix}`));
    if (paired.length > 0) pairTable(`${what.replace(' ÷ ', ' vs ')}: CPU µs per committed row by process`, paired);
  }
}

function pairTable(title: string, paired: WriteResult[]): void {
  printTable(
    title,
    paired.map((r) => ({ scenario: r.scenario, rows: r.rows, commits: r.commits, 'rows/txn': rowsPerTxn(r), 'rows/xid': rowsPerXid(r), 'rows/s': r.rows > 0 ? (r.rows / r.measured.windowMs) * 1000 : null, ...cpuPer(r.measured.cpuUs, r.rows) })),
  );
}

/** Print the tables and ratios; write them (and every measurement) to bench/results/<run>.json. */
export function report(run: string, o: WriteBenchOptions, results: WriteResult[], drain: { drain: RowsRun; copy: RowsRun } | undefined, profiles: Record<string, Record<string, ProfileSummary | undefined>>): void {
  printTable(
    `HTTP writes: ${o.connections} keep-alive connections, ${o.durationS} s each, ${Buffer.byteLength(ROW_BODY)}-byte single-row inserts. ` +
      'Latency in ms; CPU µs per request by process (app = the gateway or the baseline server; servers = all but the load generator)',
    [...results].sort((a, b) => a.scenario.localeCompare(b.scenario)).map(row),
  );
  if (drain) {
    const d = (name: string, r: RowsRun): Row => ({ path: name, rows: r.rows, 'rows/s': r.rowsPerSec, ...cpuPer(r.cpuUs, r.rows) });
    printTable(`Backlog of ${o.drainWrites} writes: CPU µs per row by process`, [d('Sluice writer drain', drain.drain), d('COPY, 1 stream', drain.copy)]);
  }
  pairTables(results);
  const r = ratios(results, drain);
  printRatios('Ratios, all from this run (issue #10 targets)', r);
  for (const [scenario, p] of Object.entries(profiles)) printProfiles(`Profile under ${scenario}`, p);
  const file = writeResults(run, { run, at: new Date().toISOString(), options: o, results, drain, ratios: r, profiles });
  process.stdout.write(`\nresults: ${file}\n`);
}

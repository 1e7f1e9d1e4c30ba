import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { CpuSample } from './cpu.ts';
import type { ProfileSummary } from './profile.ts';
import { REPO_ROOT } from './shared.ts';

/** A table row. */
export type Row = Record<string, string | number | null>;

/** Print rows as an aligned text table. */
export function printTable(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) || Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(2)) : v == null ? '—' : String(v));
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c]).length)));
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(width[i]!) : s.padStart(width[i]!))).join('  ');
  process.stdout.write(`\n${title}\n${line(cols)}\n${width.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(line(cols.map((c) => fmt(r[c]))) + '\n');
}

/** A name for this run: results file and profile folder. */
export function runId(mode: string): string {
  return `${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

/** Where `--profile` writes this run's profiles. */
export function profileDir(run: string): string {
  return join(REPO_ROOT, 'bench', 'results', 'profiles', run);
}

/**
 * Write bench/results/<run>.json (with the machine's load average: other work
 * on a shared machine inflates every figure) and return its path.
 */
export function writeResults(run: string, data: object): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run}.json`);
  writeFileSync(file, JSON.stringify({ ...data, machine: { cores: cpus().length, loadavgAtEnd: loadavg() } }, null, 2) + '\n');
  process.stdout.write(`\nload average at the end (1, 5, 15 min): ${loadavg().map((l) => l.toFixed(1)).join(', ')} on ${cpus().length} cores; ratios compare within this run\n`);
  return file;
}

/** The processes a CPU table shows, in order (`app`: the gateway(s), or the baseline server). */
/** The median of the rounds' figures (benches report medians over rounds, ratios taken within each round). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const CPU_COLUMNS = ['app', 'writer', 'warmer', 'redis', 'postgres', 'loadgen'] as const;

/** CPU µs per `unit` by process (absent processes as —), and the servers' total (without the generator). */
export function cpuPer(cpuUs: CpuSample, unit: number): Row {
  const row: Row = {};
  let total = 0;
  for (const c of CPU_COLUMNS) {
    const us = cpuUs[c];
    row[c] = us === undefined || unit === 0 ? null : us / unit;
    if (us !== undefined && c !== 'loadgen') total += us;
  }
  row['servers'] = unit === 0 ? null : total / unit;
  return row;
}

/** Print the hottest functions of each profiled process. */
export function printProfiles(title: string, profiles: Record<string, ProfileSummary | undefined>): void {
  for (const [proc, p] of Object.entries(profiles)) {
    if (p === undefined) {
      process.stdout.write(`\n${title}, ${proc}: no profile written\n`);
      continue;
    }
    printTable(`${title}, ${proc}: top self time (${p.busyMs} ms sampled busy in the window)`, p.top.map((f) => ({ function: f.fn, 'self ms': f.selfMs, '%': f.pct, where: f.where })));
    const areas = Object.entries(p.areas).slice(0, 12);
    process.stdout.write(`  by area: ${areas.map(([a, pct]) => `${a} ${pct}%`).join(', ')}\n`);
  }
}

/** One figure an issue target names. */
export interface Ratio {
  name: string;
  value: number | null;
  target: string;
}

/** Print ratios one per line, with their targets. */
export function printRatios(title: string, ratios: Ratio[]): void {
  printTable(title, ratios.map((r) => ({ figure: r.name, value: r.value, target: r.target })));
}

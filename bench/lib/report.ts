import { mkdirSync, writeFileSync } from 'node:fs';
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

/** Write bench/results/<run>.json and return its path. */
export function writeResults(run: string, data: unknown): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** The processes a CPU table shows, in order (`app`: the gateway(s), or the baseline server). */
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
    printTable(`${title}, ${proc}: top self time (${p.busyMs} ms busy in the window)`, p.top.map((f) => ({ function: f.fn, 'self ms': f.selfMs, '%': f.pct, where: f.where })));
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

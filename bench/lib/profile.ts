/**
 * Reads CPU profiles (`.cpuprofile`, as `--cpu-prof` writes them): self time by function (name + file:line),
 * counted only for samples inside a window of the monotonic clock, so the
 * start-up (module compilation) and the warm-up do not blur the picture.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './shared.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One function's share of the sampled time. */
export interface HotFunction {
  fn: string;
  where: string;
  selfMs: number;
  /** Percent of the window's busy (non-idle) samples. */
  pct: number;
}

/** What a profile says about one process over one window. */
export interface ProfileSummary {
  busyMs: number;
  /** (garbage collector), (program) and the functions, by self time. */
  top: HotFunction[];
  /** Self time by area (a package, a Sluice folder, Node's core, native code, GC), percent of busy. */
  areas: Record<string, number>;
}

/** `file:///…/node_modules/.pnpm/x@1/node_modules/x/dist/a.js` → `x/dist/a.js`; the repository prefix goes too. */
function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  return url.replace(`file://${REPO_ROOT}/`, '');
}

/**
 * Where a function lives, coarsely: native code (Node's bindings — socket
 * writes land here, with the kernel's loopback work — and V8 builtins such as
 * JSON.parse), GC, Node's core, an npm package, or a Sluice folder.
 */
function areaOf(fn: string, url: string): string {
  if (url === '') return fn === '(garbage collector)' ? 'GC' : fn === '(program)' ? '(program)' : 'native';
  if (url.startsWith('node:')) return 'node core';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return shortUrl(url).split('/').slice(0, 3).join('/');
}

/** The (main thread's) profile in `dir`: bench/lib/cpu-profiler.mjs writes one per process. */
function mainThreadProfile(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  return readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
}

/** Top `n` functions by self time in the profile in `dir`, within `windowUs` when given; undefined without a profile. */
export function summarizeProfile(dir: string, n = 15, windowUs?: [number, number]): ProfileSummary | undefined {
  const file = mainThreadProfile(dir);
  if (file === undefined) return undefined;
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const nodes = new Map(p.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let t = p.startTime;
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // A sample's time is the gap to the next one.
    const dt = p.timeDeltas[i + 1] ?? 0;
    t += p.timeDeltas[i] ?? 0;
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) continue;
    const f = nodes.get(p.samples[i]!)!;
    if (f.functionName === '(idle)') continue;
    // tsx compiles TypeScript to one line per module: there the column tells functions apart, and the line says nothing.
    const where = f.url ? `${shortUrl(f.url)}${f.lineNumber > 0 ? `:${f.lineNumber + 1}` : ''}` : '';
    const key = `${f.functionName || '(anonymous)'}\t${where}\t${f.lineNumber}:${f.columnNumber}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const area = areaOf(f.functionName, f.url);
    areas.set(area, (areas.get(area) ?? 0) + dt);
    busy += dt;
  }
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => {
      const [fn, where] = key.split('\t') as [string, string, string];
      return { fn, where, selfMs: Math.round(us / 100) / 10, pct: Math.round((1000 * us) / Math.max(1, busy)) / 10 };
    });
  const pct = (us: number) => (busy > 0 ? Math.round((1000 * us) / busy) / 10 : 0);
  const byArea = Object.fromEntries([...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => [a, pct(us)]));
  return { busyMs: Math.round(busy / 1000), top, areas: byArea };
}

/** Summaries of the profiles of `processes` under `dir` (one folder each), within `windowUs`. */
export function summarizeProfiles(dir: string, processes: readonly string[], windowUs?: [number, number]): Record<string, ProfileSummary | undefined> {
  return Object.fromEntries(processes.map((p) => [p, summarizeProfile(join(dir, p), 15, windowUs)]));
}

/**
 * CPU time of processes from /proc/<pid>/stat (user + system, every thread).
 * A process's figure includes its children: live ones (Postgres backends,
 * WAL writer…) and the ones it already reaped (cutime/cstime), so one entry
 * for a postmaster covers the whole server.
 */
import { readFileSync, readdirSync } from 'node:fs';

// Linux reports CPU in clock ticks; USER_HZ is 100 on every mainstream kernel.
const TICK_US = 10_000;

/** A process to account for, under a column name (several pids may share one). */
export interface Tracked {
  name: string;
  pid: number;
}

/** CPU used so far (µs) by column name. */
export type CpuSample = Record<string, number>;

/** [ppid, own ticks, reaped children's ticks] of one process, or null once it is gone. */
function stat(pid: number): [number, number, number] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after the last ')' is fixed-format.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return [Number(f[1]), Number(f[11]) + Number(f[12]), Number(f[13]) + Number(f[14])];
  } catch {
    return null;
  }
}

/** CPU used so far (µs) by each tracked process and its children, summed by name. */
export function sampleCpu(tracked: readonly Tracked[]): CpuSample {
  const out: CpuSample = {};
  for (const t of tracked) out[t.name] = 0;
  const byPid = new Map(tracked.map((t) => [t.pid, t.name]));
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    const pid = Number(d);
    const s = stat(pid);
    if (s === null) continue;
    const own = byPid.get(pid);
    if (own !== undefined) out[own]! += (s[1] + s[2]) * TICK_US;
    const parent = byPid.get(s[0]);
    if (parent !== undefined) out[parent]! += s[1] * TICK_US;
  }
  return out;
}

/** `b - a` per name. */
export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
}

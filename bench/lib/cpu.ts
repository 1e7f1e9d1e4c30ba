/**
 * CPU time of processes from /proc (user + system, every thread). A live
 * process's own time comes from its threads' schedstat (nanoseconds; /proc/<pid>/stat
 * counts 10 ms ticks, too coarse for a variant that costs Postgres 100 ms in all),
 * falling back to the ticks where schedstat is missing. A process's figure
 * includes its children: live ones (Postgres backends, WAL writer…) and the
 * ones it already reaped (cutime/cstime, ticks only), so one entry for a
 * postmaster covers the whole server.
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

/** A live process's own CPU so far (µs): its threads' schedstat, or `ticks` when that cannot be read. */
function ownUs(pid: number, ticks: number): number {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1000;
  } catch {
    return ticks * TICK_US;
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
    const parent = byPid.get(s[0]);
    if (own === undefined && parent === undefined) continue;
    const self = ownUs(pid, s[1]);
    if (own !== undefined) out[own]! += self + s[2] * TICK_US;
    if (parent !== undefined) out[parent]! += self;
  }
  return out;
}

/** `b - a` per name. */
export function cpuDelta(a: CpuSample, b: CpuSample): CpuSample {
  return Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
}

/** Auxiliary processes by title; every other child of a postmaster serves a client connection. */
const AUXILIARY = /^postgres: (autovacuum \w+|background writer|checkpointer|walwriter|logical replication \w+|archiver|startup|walsender|walreceiver)/;

/**
 * CPU so far (µs) of a postmaster's processes by role: `backend` (client
 * connections), each auxiliary process by its title, `postmaster`, and
 * `exited` (children already reaped, such as autovacuum workers: ticks only).
 */
export function cpuByRole(postmaster: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, us: number) => void (out[k] = (out[k] ?? 0) + us);
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    const pid = Number(d);
    const s = stat(pid);
    if (s === null) continue;
    if (pid === postmaster) {
      add('postmaster', ownUs(pid, s[1]));
      add('exited', s[2] * TICK_US);
    } else if (s[0] === postmaster) {
      let title = '';
      try {
        title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        continue; // gone meanwhile
      }
      add(AUXILIARY.exec(title)?.[1] ?? 'backend', ownUs(pid, s[1]));
    }
  }
  return out;
}

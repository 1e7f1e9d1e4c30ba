import { readFileSync, readdirSync } from 'node:fs';

// Linux reports CPU in clock ticks; USER_HZ is 100 on every mainstream kernel.
const TICK_US = 10_000;

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; everything after the last ')' is fixed-format.
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * Total CPU (µs) used so far by a Postgres server: the postmaster's own time,
 * the time of children it already reaped (exited backends: cutime/cstime),
 * and the current time of every live child (backends, WAL writer, checkpointer…).
 */
export function postgresCpuMicros(postmasterPid: number): number {
  let ticks = 0;
  const own = statFields(postmasterPid);
  if (own) ticks += Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(Number(d));
    if (f && Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * TICK_US;
}

/** CPU (µs) used so far by one process (its own user + system time); 0 once it is gone. */
export function processCpuMicros(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) * TICK_US : 0;
}

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

/**
 * Folder holding initdb/postgres/pg_ctl/pg_basebackup. Debian keeps them off
 * PATH (in /usr/lib/postgresql/<major>/bin), so ask `pg_config`, then look
 * there for the newest major, then fall back to PATH ('' = bare names).
 */
export function pgBinDir(): string {
  if (cached !== undefined) return cached;
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // no pg_config: keep looking
  }
  try {
    const majors = readdirSync('/usr/lib/postgresql').filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...majors.map((m) => `/usr/lib/postgresql/${m}/bin`));
  } catch {
    // not Debian-style
  }
  cached = candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres'))) ?? '';
  return cached;
}

/** Full path of a Postgres tool (bare name when found only via PATH). */
export function pgTool(name: string, binDir = pgBinDir()): string {
  return binDir ? join(binDir, name) : name;
}

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when this machine can start private Postgres and Redis servers from local binaries. */
export function localServersAvailable(): boolean {
  return runs(pgTool('initdb'), ['--version']) && runs(pgTool('postgres'), ['--version']) && runs('redis-server', ['--version']);
}

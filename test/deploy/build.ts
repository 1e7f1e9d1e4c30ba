/**
 * The compiled output the deploy tests run: `tsc -b tsconfig.build.json`,
 * what `pnpm build` runs, incremental (about a second when nothing changed),
 * so a test always runs the current sources compiled. Only one test file
 * per vitest group may build (two tsc runs would write the same files).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DIST_CONDITION, REPO_ROOT } from '@sluice/local-servers/processes.ts';

/** Compile every package to its dist/ (rejects with tsc's output). */
export async function buildCompiled(): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: REPO_ROOT }).catch((e: { stdout: string; stderr: string }) => {
    throw new Error(`pnpm build failed:\n${e.stdout}${e.stderr}`);
  });
}

/** The argv docker-compose.yml runs for the service whose command ends with `entry` (e.g. `gateway/dist/main.js`). */
export function composeCommand(entry: string): string[] {
  const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
  const commands = [...compose.matchAll(/^\s*command: \[([^\]\n]+)\]$/gm)].map((m) => m[1]!.split(',').map((a) => a.trim()));
  const found = commands.filter((c) => c.at(-1) === entry);
  if (found.length === 0) throw new Error(`docker-compose.yml runs no command ending with ${entry}`);
  return found[0]!;
}

/** What `spawnTs` runs for a compiled entry (local-servers/src/processes.ts): `node --conditions=sluice-dist <entry>`. */
export const compiledArgv = (entry: string): string[] => ['node', `--conditions=${DIST_CONDITION}`, entry];

/** A process's argv from /proc (Linux), with the node binary's path reduced to `node`. */
export function argvOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a.length > 0);
  return [argv[0] === process.execPath ? 'node' : argv[0]!, ...argv.slice(1).map((a) => (a.startsWith(`${REPO_ROOT}/`) ? a.slice(REPO_ROOT.length + 1) : a))];
}

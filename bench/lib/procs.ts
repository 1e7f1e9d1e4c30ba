import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';

export const ROOT = REPO_ROOT;
export type Proc = TsProcess;

/** Start a Sluice or baseline process for a scenario (see shared/src/lifecycle/processes.ts). */
export function startTs(file: string, o: { args?: string[]; env?: Record<string, string>; ready: RegExp; timeoutMs?: number; name: string }): Promise<Proc> {
  return startTsProcess(file, o);
}

/** Run a TypeScript script to completion and return its stdout. */
export async function runTs(file: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, file), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${file} exited with ${code}`);
  return out;
}

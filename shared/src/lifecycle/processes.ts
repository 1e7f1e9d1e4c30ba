import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (shared/src/lifecycle → ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A Sluice process (gateway, writer, baseline) started from its TypeScript entry point. */
export interface TsProcess {
  child: ChildProcess;
  readonly pid: number;
  /** Last lines of output, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code when it exited. Idempotent. */
  stop(graceMs?: number): Promise<number | null>;
  /** Send a signal now (SIGKILL, SIGSTOP, SIGCONT…). */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code when the process exits. */
  readonly exited: Promise<number | null>;
}

export interface StartTsOptions {
  name: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Resolve once a line of output matches this. */
  ready: RegExp;
  timeoutMs?: number;
  /** Echo output with a `[name]` prefix (for `pnpm dev`). */
  echo?: boolean;
}

/**
 * Start `node --import tsx <file>` from the repository root and wait until
 * its output matches `ready`. Used by `pnpm dev`, the e2e tests and the bench.
 */
export async function startTsProcess(file: string, o: StartTsOptions): Promise<TsProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, file), ...(o.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const onData = (buf: Buffer) => {
    const s = buf.toString();
    tail.push(s);
    if (tail.length > 100) tail.shift();
    if (o.echo) process.stdout.write(s.replace(/^(?=.)/gm, `[${o.name}] `));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a half-started process behind
      reject(new Error(`${o.name} not ready within ${o.timeoutMs ?? 30_000} ms:\n${tail.join('')}`));
    }, o.timeoutMs ?? 30_000);
    const check = (buf: Buffer) => {
      if (o.ready.test(buf.toString())) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited with ${code} before it was ready:\n${tail.join('')}`));
    }, reject);
  });
  let stopping: Promise<number | null> | undefined;
  return {
    child,
    pid: child.pid!,
    exited,
    output: () => tail.join(''),
    kill: (signal) => void child.kill(signal),
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill('SIGCONT'); // a frozen process cannot handle SIGTERM
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const code = await exited;
        clearTimeout(t);
        return code;
      })();
      return stopping;
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeLines } from './child.ts';

/** Repository root (local-servers/src, or local-servers/dist when compiled → ../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The package.json `exports` condition under which `@sluice/*` resolves to
 * the compiled `dist/*.js` (`pnpm build`) instead of the `src/*.ts` sources.
 */
export const DIST_CONDITION = 'sluice-dist';

/**
 * The one way Sluice starts its own processes (gateway, writer, warmer,
 * bench baselines): `node --import tsx <file.ts>` from the repository root,
 * or, for a compiled `….js` file, `node --conditions=sluice-dist <file.js>`
 * (what production runs: no tsx). Tests, the bench and the fault suite use
 * `startTsProcess` (wait for a ready line); `pnpm dev` / `pnpm start` use
 * `spawnTs` through scripts/lib/services.ts. Postgres and Redis have their own starter
 * (child.ts: other OS user, no tsx).
 */

/** A running Sluice process. */
export interface TsProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last lines of output, for error messages (empty with `output: 'inherit'`). */
  output(): string;
  /** True once it exited. */
  readonly done: boolean;
  /** SIGCONT (a frozen process cannot act on SIGTERM), SIGTERM, SIGKILL after `graceMs`; resolves with the exit code. Idempotent. */
  stop(graceMs?: number): Promise<number | null>;
  /** Send a signal now (SIGKILL, SIGSTOP, SIGCONT…); ignored once it exited. */
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit code when the process exits (null: killed by a signal, see `child.signalCode`). */
  readonly exited: Promise<number | null>;
}

export interface SpawnTsOptions {
  name: string;
  args?: string[];
  /** Set over this process's environment. */
  env?: Record<string, string | undefined>;
  /**
   * `tail` (default): keep the last lines for `output()`; `echo`: also print
   * each line with a `[name] ` prefix (`tag` overrides it); `inherit`: write
   * straight to our stdout/stderr (production JSON logs stay parseable).
   */
  output?: 'tail' | 'echo' | 'inherit';
  tag?: string;
  /**
   * Own process group, so a terminal Ctrl-C reaches only us and we send
   * exactly one SIGTERM (the services treat a second signal as "exit now").
   */
  detached?: boolean;
}

export interface StartTsOptions extends SpawnTsOptions {
  /** Resolve once a line of output matches this. */
  ready: RegExp;
  timeoutMs?: number;
}

// Tests search the output for log lines: keep plenty.
const TAIL_LINES = 2000;

/** Start `file` (see the module comment); does not wait for it to be ready. */
export function spawnTs(file: string, o: SpawnTsOptions): TsProcess {
  const output = o.output ?? 'tail';
  const runner = file.endsWith('.js') ? [`--conditions=${DIST_CONDITION}`] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...runner, join(REPO_ROOT, file), ...(o.args ?? [])], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...o.env },
    stdio: output === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    detached: o.detached ?? false,
  });
  const tail: string[] = [];
  if (output !== 'inherit') {
    const tag = o.tag ?? `[${o.name}] `;
    const line = (to: NodeJS.WriteStream) => (l: string) => {
      tail.push(l);
      if (tail.length > TAIL_LINES) tail.shift();
      if (output === 'echo') to.write(`${tag}${l}\n`);
    };
    pipeLines(child.stdout, line(process.stdout));
    pipeLines(child.stderr, line(process.stderr));
  }
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
    child.once('error', (err) => {
      tail.push(`could not start: ${err.message}`);
      if (output !== 'tail') process.stderr.write(`[${o.name}] could not start: ${err.message}\n`);
      done = true;
      resolve(1);
    });
  });
  let stopping: Promise<number | null> | undefined;
  const proc: TsProcess = {
    name: o.name,
    child,
    pid: child.pid ?? 0,
    exited,
    output: () => tail.join('\n'),
    get done() {
      return done;
    },
    kill(signal) {
      if (!done) child.kill(signal);
    },
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        proc.kill('SIGCONT');
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
  return proc;
}

/** Start `file` and wait until a line of its output matches `ready`; a process that is not ready in time is killed. */
export async function startTsProcess(file: string, o: StartTsOptions): Promise<TsProcess> {
  const proc = spawnTs(file, { ...o, output: o.output === 'echo' ? 'echo' : 'tail' });
  const timeoutMs = o.timeoutMs ?? 30_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave a half-started process behind
      reject(new Error(`${o.name} not ready within ${timeoutMs} ms:\n${proc.output()}`));
    }, timeoutMs);
    let ready = false;
    const check = (l: string) => {
      if (ready || !o.ready.test(l)) return;
      ready = true;
      clearTimeout(timer);
      resolve();
    };
    pipeLines(proc.child.stdout, check);
    pipeLines(proc.child.stderr, check);
    void proc.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited with ${code} before it was ready:\n${proc.output()}`));
    });
  });
  return proc;
}

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/**
 * Child-process plumbing shared by the Postgres and Redis starters: spawn a
 * server (optionally as another OS user), keep the tail of its output for
 * error messages, run one-shot tools, and make sure no server outlives us.
 */

/** Receives each line a server prints (stdout and stderr). */
export type LogFn = (line: string) => void;

/** Uid/gid to run a child as (Node's spawn `uid`/`gid`: no `runuser` in between, so the pid is the server's own). */
export interface RunAs {
  uid: number;
  gid: number;
}

/**
 * initdb and postgres refuse to run as root; when we are root, run them as the
 * `postgres` OS user. Undefined when we are not root (run as ourselves).
 */
export function postgresOsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root: Postgres refuses root, and there is no "postgres" OS user to run it as (create one, or run as a normal user)');
  }
}

/** A running server child: its process, output tail, and a promise of its exit. */
export interface ServerChild {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Last lines of output, newest last (for error messages). */
  readonly tail: string[];
  /** Exit code or signal once exited; undefined while running. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

const TAIL_LINES = 60;

/** Call `onLine` for each line `stream` prints (the last one even without a newline). */
export function pipeLines(stream: NodeJS.ReadableStream | null, onLine: (l: string) => void): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
  });
}

/** Where and as whom to run a child, and where its lines go. */
export interface SpawnServerOptions {
  cwd: string;
  runAs?: RunAs | undefined;
  log?: LogFn | undefined;
}

/**
 * Start a long-running server. `detached: true` puts it in its own process
 * group, so a Ctrl-C in the terminal reaches only our process: `pnpm dev` can
 * drain the gateway and writer while Postgres and Redis are still up, and stop
 * the servers last.
 */
export function spawnServer(cmd: string, args: readonly string[], o: SpawnServerOptions): ServerChild {
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(o.runAs ? { uid: o.runAs.uid, gid: o.runAs.gid } : {}),
  });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    o.log?.(line);
  };
  pipeLines(child.stdout, onLine);
  pipeLines(child.stderr, onLine);
  const sc: ServerChild = {
    child,
    tail,
    exit: undefined,
    exited: new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        sc.exit = { code, signal };
        resolve();
      });
      child.once('error', (err) => {
        tail.push(`spawn ${cmd} failed: ${err.message}`);
        sc.exit ??= { code: -1, signal: null };
        resolve();
      });
    }),
  };
  return sc;
}

/** Run a one-shot tool (initdb, pg_basebackup, pg_ctl) to completion; reject with its output on failure. */
export function runTool(cmd: string, args: readonly string[], o: SpawnServerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(o.runAs ? { uid: o.runAs.uid, gid: o.runAs.gid } : {}) });
    const out: string[] = [];
    const onLine = (l: string) => {
      out.push(l);
      o.log?.(l);
    };
    pipeLines(child.stdout, onLine);
    pipeLines(child.stderr, onLine);
    child.once('error', (err) => reject(new Error(`${cmd} failed to start: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${out.slice(-30).join('\n')}`));
    });
  });
}

/** Send a signal, ignoring "no such process" (it already exited). */
export function signalPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Wait for `exited`, escalating to `escalate` (e.g. SIGKILL) after `ms`. */
export async function waitExit(sc: ServerChild, ms: number, escalate: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), ms);
  });
  const first = await Promise.race([sc.exited.then(() => 'exited' as const), timeout]);
  clearTimeout(timer);
  if (first === 'timeout') {
    signalPid(sc.child.pid, 'SIGCONT');
    signalPid(sc.child.pid, escalate);
    await sc.exited;
  }
}

/** Resolve after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How `waitReady` probes a starting server and gives up on it. */
export interface ReadyProbe {
  /** Does the server answer yet? */
  ready(): Promise<boolean>;
  pollMs: number;
  /** Sent when the deadline passes; then the exit is awaited. */
  timeoutSignal: NodeJS.Signals;
  /** Added to the server's output tail when the deadline passed. */
  timeoutNote: string;
}

/** Poll until the server answers (true), exits, or `deadline` passes (false; it is stopped first). */
export async function waitReady(sc: ServerChild, deadline: number, p: ReadyProbe): Promise<boolean> {
  for (;;) {
    if (sc.exit) return false;
    if (await p.ready()) return !sc.exit;
    if (Date.now() > deadline) {
      signalPid(sc.child.pid, p.timeoutSignal);
      await waitExit(sc, 10_000);
      sc.tail.push(p.timeoutNote);
      return false;
    }
    await sleep(p.pollMs);
  }
}

/**
 * Stop a server: SIGCONT first (a frozen server never acts on the next
 * signal), then `signal`; after `graceMs`, `escalate`. Resolves once it exited.
 */
export async function stopServer(sc: ServerChild, signal: NodeJS.Signals, graceMs: number, escalate: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  signalPid(sc.child.pid, 'SIGCONT');
  signalPid(sc.child.pid, signal);
  await waitExit(sc, graceMs, escalate);
}

// ---- nothing outlives us -------------------------------------------------

const reapers = new Map<number, () => void>();
let nextReaper = 1;
let hooked = false;

function reapAll(): void {
  for (const fn of reapers.values()) {
    try {
      fn();
    } catch {
      // best effort: we are exiting
    }
  }
  reapers.clear();
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', reapAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      // Someone else (dev.ts, vitest) handles this signal and owns shutdown;
      // our 'exit' hook still runs when they exit.
      if (process.listenerCount(sig) > 1) return;
      // We are the only listener: do what Node would have done without us
      // (die by the signal), after stopping our servers.
      reapAll();
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/**
 * Register a synchronous last-resort kill for a child, run when this process
 * exits or dies by SIGINT/SIGTERM/SIGHUP. SIGKILL of this process cannot be
 * caught: tests keep data under the OS temp dir for that reason.
 * Returns the unregister function.
 */
export function reapOnExit(fn: () => void): () => void {
  installHooks();
  const id = nextReaper++;
  reapers.set(id, fn);
  return () => {
    reapers.delete(id);
  };
}

/**
 * Remove a directory once `pid` is gone, from a detached shell, so it also
 * works from an 'exit' hook (where nothing async can be awaited).
 */
export function removeDirAfterExit(pid: number | undefined, dir: string): void {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; rm -rf -- "$2"';
  const child = spawn('sh', ['-c', script, 'sh', String(pid ?? 0), dir], { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
}

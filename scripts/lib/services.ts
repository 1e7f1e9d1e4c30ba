import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reapOnExit } from '@sluice/shared';

/** Repository root (scripts/lib → ../..). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A gateway or writer process started by `pnpm dev` / `pnpm start`. */
export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves when it exited: exit code, or 128 + n when killed by signal n. */
  readonly exited: Promise<number>;
  /** True once it exited. */
  readonly done: boolean;
  /** Send a signal now (ignored once it exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM (it drains), SIGKILL after `graceMs`; resolves with the exit code. Idempotent. */
  stop(graceMs?: number): Promise<number>;
}

/** Environment and output handling of a spawned service. */
export interface SpawnServiceOptions {
  env: Record<string, string | undefined>;
  /** Prefix each output line with `[name] ` (dev); otherwise output goes straight through (production logs stay JSON). */
  prefix?: boolean;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

function prefixLines(stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream, tag: string): void {
  if (!stream) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) out.write(`${tag}${line}\n`);
  });
  stream.on('end', () => {
    if (rest) out.write(`${tag}${rest}\n`);
  });
}

/**
 * Run `node --import tsx <file>` from the repository root. `detached: true`
 * gives it its own process group, so a terminal Ctrl-C reaches only us and we
 * send exactly one SIGTERM: the services treat a second signal as "exit now",
 * which would skip the writer's final commit.
 */
export function spawnService(name: string, file: string, o: SpawnServiceOptions): Service {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, file)], {
    cwd: ROOT,
    env: o.env,
    stdio: o.prefix ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  if (o.prefix) {
    const tag = process.stdout.isTTY ? `\x1b[${name === 'gateway' ? 36 : 35}m[${name}]\x1b[0m ` : `[${name}] `;
    prefixLines(child.stdout, process.stdout, tag);
    prefixLines(child.stderr, process.stderr, tag);
  }
  let done = false;
  const unreap = reapOnExit(() => {
    // Last resort if we exit without stopping it: SIGTERM still lets it drain.
    if (!done) child.kill('SIGTERM');
  });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, sig) => {
      done = true;
      unreap();
      resolve(code ?? 128 + (sig ? (SIGNAL_NUMBERS[sig] ?? 0) : 0));
    });
    child.once('error', (err) => {
      process.stderr.write(`[${name}] could not start: ${err.message}\n`);
      done = true;
      unreap();
      resolve(1);
    });
  });
  let stopping: Promise<number> | undefined;
  const service: Service = {
    name,
    child,
    exited,
    get done() {
      return done;
    },
    signal(sig) {
      if (!done) child.kill(sig);
    },
    stop(graceMs = 30_000) {
      stopping ??= (async () => {
        service.signal('SIGCONT'); // a frozen process cannot act on SIGTERM
        service.signal('SIGTERM');
        const timer = setTimeout(() => service.signal('SIGKILL'), graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
  return service;
}

/**
 * Call `onSignal(first)` for SIGINT/SIGTERM. The same Ctrl-C can arrive twice
 * within moments (from the terminal and relayed by pnpm/tsx); repeats within
 * `dedupeMs` are dropped so they don't count as the "force" second signal.
 */
export function onSignals(onSignal: (sig: NodeJS.Signals, first: boolean) => void, dedupeMs = 1000): void {
  let firstAt = 0;
  const handler = (sig: NodeJS.Signals) => {
    const now = Date.now();
    if (firstAt === 0) {
      firstAt = now;
      onSignal(sig, true);
    } else if (now - firstAt > dedupeMs) {
      onSignal(sig, false);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

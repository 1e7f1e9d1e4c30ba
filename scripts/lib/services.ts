import { reapOnExit } from '@sluice/local-servers/child.ts';
import { REPO_ROOT, spawnTs, type TsProcess } from '@sluice/local-servers/processes.ts';

/** Repository root. */
export const ROOT = REPO_ROOT;

/** A gateway, writer or warmer started by `pnpm dev` / `pnpm start`. */
export interface Service {
  readonly name: string;
  readonly proc: TsProcess;
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

/**
 * Run a service (local-servers/src/processes.ts `spawnTs`) in its own
 * process group, so a terminal Ctrl-C reaches only us and we send exactly one
 * SIGTERM: the services treat a second signal as "exit now", which would skip
 * the writer's final commit. If we exit without stopping it, it still gets a
 * SIGTERM (and drains).
 */
export function spawnService(name: string, file: string, o: SpawnServiceOptions): Service {
  const tag = process.stdout.isTTY ? `\x1b[${name === 'gateway' ? 36 : 35}m[${name}]\x1b[0m ` : `[${name}] `;
  const proc = spawnTs(file, { name, env: o.env, output: o.prefix ? 'echo' : 'inherit', tag, detached: true });
  const unreap = reapOnExit(() => proc.kill('SIGTERM'));
  const codeOf = (code: number | null) => code ?? 128 + (SIGNAL_NUMBERS[proc.child.signalCode ?? 'SIGTERM'] ?? 0);
  const exited = proc.exited.then((code) => {
    unreap();
    return codeOf(code);
  });
  return {
    name,
    proc,
    exited,
    get done() {
      return proc.done;
    },
    signal: (sig) => proc.kill(sig),
    stop: (graceMs = 30_000) => proc.stop(graceMs).then(codeOf),
  };
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

import pTimeout from 'p-timeout';
import type { Logger } from '../log/index.ts';

/**
 * Two-stage signal handling, for `main.ts` only: the first SIGTERM/SIGINT
 * starts a graceful drain (`stop`), a second one forces exit. A drain that
 * overruns `forceAfterMs` also exits, non-zero, so a stuck close never hangs a deploy.
 */
export function onShutdownSignals(log: Logger, stop: () => Promise<unknown>, forceAfterMs = 30_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'draining (send the signal again to force)');
    const timer = setTimeout(() => {
      log.error({ forceAfterMs }, 'drain overran; exiting');
      process.exit(1);
    }, forceAfterMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * Wait for `start` (a process's start under way when the first signal came)
 * to settle, at most `boundMs`, before releasing: released under it, a start
 * goes on over closed connections and what it already took (a writer's
 * partition leases) stays held until the leases lapse. A start that does not
 * settle in time (a database that does not answer) is released under anyway.
 */
export async function startSettled(start: Promise<unknown> | undefined, boundMs: number): Promise<void> {
  if (start === undefined) return;
  await pTimeout(start, { milliseconds: boundMs }).catch(() => undefined);
}

import type { Logger } from '@sluice/shared/log/index.ts';

/**
 * `stop()` overran its bound: a batch could not commit (Postgres down or
 * frozen) and kept being retried. Its jobs are neither done nor failed: once
 * this process exits their locks lapse and another writer gets them
 * (`sluice.applied_jobs` keeps that exactly-once). The caller should exit.
 */
export class DrainTimeoutError extends Error {
  override readonly name = 'DrainTimeoutError';
}

/** `drain`, or a DrainTimeoutError after `ms`: a drain must never hang a deploy. */
export async function boundedDrain(drain: Promise<void>, ms: number, log: Logger): Promise<void> {
  // The drain keeps running if it loses the race; its own failures are already logged by the releasers.
  drain.catch(() => {});
  const overrun = AbortSignal.timeout(ms);
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      log.error({ ms }, 'drain overran: open batches are left for redelivery after their locks lapse');
      reject(new DrainTimeoutError(`writer drain did not finish within ${ms} ms`));
    };
    overrun.addEventListener('abort', onAbort, { once: true });
    drain.then(
      () => {
        overrun.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        overrun.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

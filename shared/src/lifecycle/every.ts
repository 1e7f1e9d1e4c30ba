/**
 * Run `fn` again `ms` after each run ends (runs never overlap, a slow run
 * delays the next instead of piling up), until `stop()`. A failed run is
 * reported to `onError` and the next one is scheduled anyway. The timer does
 * not keep the process alive.
 */
export function every(ms: number, fn: () => Promise<unknown>, onError: (err: unknown) => void): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      fn()
        .catch(onError)
        .finally(schedule);
    }, ms);
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

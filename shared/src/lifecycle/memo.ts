/**
 * The last result of `fn`, reused for `ms`; concurrent callers while it runs
 * share the one call. For checks a probe storm or a scrape storm would
 * otherwise repeat (readiness, dead-letter counts). A failed call is not kept.
 * (p-memoize does this with two packages and a cache-key function; one
 * argumentless function needs only this.)
 */
export function memoizeFor<T>(fn: () => Promise<T>, ms: number): () => Promise<T> {
  let last: { at: number; value: T } | undefined;
  let running: Promise<T> | undefined;
  return () => {
    if (last !== undefined && Date.now() - last.at < ms) return Promise.resolve(last.value);
    running ??= fn()
      .then((value) => {
        last = { at: Date.now(), value };
        return value;
      })
      .finally(() => (running = undefined));
    return running;
  };
}

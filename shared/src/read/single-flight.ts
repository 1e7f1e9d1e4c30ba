/**
 * In-process single-flight: concurrent calls with one key share the first
 * call's promise, so N requests for one missing row on this node cost one
 * lease attempt, one wait and at most one database read.
 */
export class SingleFlight<V> {
  private readonly inFlight = new Map<string, Promise<V>>();

  /** Run `fn` unless a call with `key` is running; either way resolve with that call's result. */
  do(key: string, fn: () => Promise<V>): Promise<V> {
    const running = this.inFlight.get(key);
    if (running !== undefined) return running;
    const p = fn().finally(() => {
      this.inFlight.delete(key);
    });
    this.inFlight.set(key, p);
    return p;
  }

  /** Calls in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}

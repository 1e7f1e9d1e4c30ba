/**
 * LIFO cleanup (graphile-worker's `withReleasers`): register a release for
 * each thing you open; `releaseAll` runs them newest first and keeps going
 * past failures, so one bad close never leaks the rest. Idempotent: every
 * call returns the same promise.
 */
export class Releasers {
  private readonly stack: { name: string; fn: () => unknown }[] = [];
  private done: Promise<Error[]> | undefined;

  add(name: string, fn: () => unknown): void {
    if (this.done) throw new Error(`cannot register ${name}: already released`);
    this.stack.push({ name, fn });
  }

  releaseAll(onError?: (name: string, err: unknown) => void): Promise<Error[]> {
    this.done ??= (async () => {
      const errors: Error[] = [];
      while (this.stack.length > 0) {
        const { name, fn } = this.stack.pop()!;
        try {
          await fn();
        } catch (err) {
          errors.push(err as Error);
          onError?.(name, err);
        }
      }
      return errors;
    })();
    return this.done;
  }
}

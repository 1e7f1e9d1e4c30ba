/**
 * LIFO cleanup (graphile-worker's `withReleasers`): register a release for
 * each thing you open; `releaseAll` runs them newest first and keeps going
 * past failures, so one bad close never leaks the rest. Idempotent: every
 * call returns the same promise. Something registered after the release began
 * (a start that outran its shutdown) is released at once rather than leaked.
 */
export class Releasers {
  private readonly stack: { name: string; fn: () => unknown }[] = [];
  private done: Promise<Error[]> | undefined;
  private onError: ((name: string, err: unknown) => void) | undefined;

  add(name: string, fn: () => unknown): void {
    if (this.done) {
      void this.done.then(async (errors) => {
        try {
          await fn();
        } catch (err) {
          errors.push(err as Error);
          this.onError?.(name, err);
        }
      });
      return;
    }
    this.stack.push({ name, fn });
  }

  releaseAll(onError?: (name: string, err: unknown) => void): Promise<Error[]> {
    this.onError ??= onError;
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

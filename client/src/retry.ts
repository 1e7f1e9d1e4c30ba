/**
 * When to try again: `Retry-After` (RFC 9110 §10.2.3), exponential backoff
 * with jitter, and the deadline that bounds an operation's retries.
 */

/** Retry bounds of every operation. */
export interface RetryPolicy {
  /** An operation (all its attempts and waits) ends by this many ms after it started. */
  deadlineMs: number;
  /** First backoff step. */
  baseMs: number;
  /** Largest backoff step (a server's Retry-After may ask for more, and is honoured). */
  maxMs: number;
}

/**
 * Defaults: 40 s per operation, 50 ms doubling to 2 s. 40 s outlasts the
 * gateway's claim on an Idempotency-Key whose request died with Redis
 * (max(30 s, 2 × SLUICE_COMMIT_WAIT_MS) with the defaults): retries answered
 * 409 "in flight" until then still end with a known outcome.
 */
export const DEFAULT_RETRY: RetryPolicy = { deadlineMs: 40_000, baseMs: 50, maxMs: 2_000 };

/**
 * `Retry-After` in ms: delay-seconds or an HTTP-date (past dates → 0);
 * undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  // An HTTP-date always names a weekday and GMT (IMF-fixdate, or the obsolete RFC 850 / asctime forms).
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Backoff before retry number `attempt` (0-based): "equal jitter" over the
 * step `min(maxMs, baseMs·2^attempt)`, i.e. uniform in [step/2, step]. Half
 * the step is kept so retries never collapse to zero; the other half spreads
 * clients that failed together.
 */
export function backoffMs(attempt: number, p: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  const step = Math.min(p.maxMs, p.baseMs * 2 ** Math.min(attempt, 30));
  return step / 2 + random() * (step / 2);
}

/**
 * Wait before the next attempt: the server's `Retry-After` when it gave one
 * (a floor, plus up to a quarter more so that clients refused together do
 * not return together), else the backoff.
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, p: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  if (retryAfterMs === undefined) return backoffMs(attempt, p, random);
  return retryAfterMs + random() * Math.max(retryAfterMs / 4, p.baseMs);
}

/** The end of an operation's time. */
export class Deadline {
  readonly at: number;
  constructor(ms: number, now = Date.now()) {
    this.at = now + ms;
  }
  /** Ms left (≤ 0 once passed). */
  remaining(now = Date.now()): number {
    return this.at - now;
  }
  /** Would a wait of `ms` still end before the deadline? */
  allows(ms: number, now = Date.now()): boolean {
    return now + ms < this.at;
  }
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Retry-After parsing, backoff bounds and the deadline. */
import { describe, expect, it } from 'vitest';
import { backoffMs, parseRetryAfter, retryDelayMs } from '@sluice/client';

describe('Retry-After', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
  });

  it('reads an HTTP-date (RFC 9110 §5.6.7), a past one as 0', () => {
    expect(parseRetryAfter('Tue, 01 Dec 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tuesday, 01-Dec-26 10:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 10:00:00 GMT', now)).toBe(0);
  });

  it('ignores what is neither', () => {
    for (const bad of [undefined, null, '', '-1', '1.5', 'soon', '12 seconds', '99999999999']) expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined();
  });
});

describe('backoff', () => {
  const p = { baseMs: 50, maxMs: 2000 };

  it('doubles from baseMs up to maxMs, jittered within [step/2, step]', () => {
    expect(backoffMs(0, p, () => 0)).toBe(25);
    expect(backoffMs(0, p, () => 1)).toBe(50);
    expect(backoffMs(3, p, () => 0)).toBe(200);
    expect(backoffMs(3, p, () => 1)).toBe(400);
    expect(backoffMs(10, p, () => 0)).toBe(1000);
    expect(backoffMs(10, p, () => 1)).toBe(2000);
    expect(backoffMs(10_000, p, () => 1)).toBe(2000); // no overflow to Infinity
    for (let i = 0; i < 1000; i++) {
      const attempt = i % 12;
      const d = backoffMs(attempt, p);
      const step = Math.min(2000, 50 * 2 ** attempt);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    }
  });

  it('waits at least Retry-After, spread by up to a quarter of it', () => {
    expect(retryDelayMs(0, 1000, p, () => 0)).toBe(1000);
    expect(retryDelayMs(0, 1000, p, () => 1)).toBe(1250);
    expect(retryDelayMs(5, 3000, p, () => 1)).toBe(3750); // above maxMs: the server asked for it
    expect(retryDelayMs(0, 0, p, () => 1)).toBe(50); // Retry-After: 0 still spreads by baseMs
    expect(retryDelayMs(2, undefined, p, () => 1)).toBe(200);
  });
});

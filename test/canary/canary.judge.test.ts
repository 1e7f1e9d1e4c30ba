/** The canary controller's pure parts: weights for a share, the window verdict, the step list. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, judge, judgedQuantile, p99Ms, type Side } from '../../scripts/canary/judge.ts';
import { parseSteps, weightsFor } from '../../scripts/canary/weights.ts';

const latency = (ms: number, n: number) => [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, Number.POSITIVE_INFINITY].map((le) => ({ le, count: le * 1000 >= ms ? n : 0 }));
const side = (o: Partial<Side> = {}): Side => ({ responses: 1000, errors: 0, latency: latency(8, 1000), enqueued: 500, enqueueFailures: 0, deadLetters: 0, ...o });
const T = { ...DEFAULT_THRESHOLDS, minRequests: 50 };

describe('canary: weights', () => {
  it('gives the canary exactly its share with 2 stable servers, within HAProxy 0–256', () => {
    for (const share of [1, 5, 10, 25, 50, 99]) {
      const w = weightsFor(share, 1, 2);
      expect(w.canary / (w.canary + 2 * w.stable)).toBeCloseTo(share / 100, 10);
      expect(Math.max(w.canary, w.stable)).toBeLessThanOrEqual(256);
    }
    expect(weightsFor(100, 1, 2)).toEqual({ canary: 100, stable: 0 });
    expect(weightsFor(0, 1, 2)).toEqual({ canary: 0, stable: 100 });
    // 5 stable servers: scaled into 256, close to the share.
    const w = weightsFor(5, 1, 5);
    expect(w.canary / (w.canary + 5 * w.stable)).toBeCloseTo(0.05, 2);
  });

  it('refuses steps that do not rise to 100', () => {
    expect(parseSteps('5,10,25,50,100')).toEqual([5, 10, 25, 50, 100]);
    for (const bad of ['5,10', '10,5,100', '0,100', '5,x,100', '5,101']) expect(() => parseSteps(bad)).toThrow();
  });
});

describe('canary: judging a window', () => {
  it('healthy when the canary does as well as stable with enough traffic; pending below min requests', () => {
    expect(judge(side({ responses: 100 }), side(), T).state).toBe('healthy');
    expect(judge(side({ responses: 10, latency: latency(8, 10) }), side(), T).state).toBe('pending');
  });

  it('unhealthy on errors above stable by more than the delta', () => {
    const v = judge(side({ responses: 100, errors: 5 }), side({ errors: 10 }), T);
    expect(v.state).toBe('unhealthy');
    expect(v.reasons[0]).toMatch(/errors: 5.00 %/);
    expect(judge(side({ responses: 100, errors: 1 }), side({ errors: 10 }), T).state).toBe('healthy');
  });

  it('unhealthy on a p99 above ratio × stable and the floor', () => {
    expect(judge(side({ latency: latency(500, 1000) }), side(), T).reasons[0]).toMatch(/latency/);
    // Under the floor: noise, not a verdict.
    expect(judge(side({ latency: latency(50, 1000) }), side({ latency: latency(5, 1000) }), T).state).toBe('healthy');
    expect(p99Ms(latency(25, 10))).toBe(25);
    expect(p99Ms([])).toBeNull();
    expect(judge(side({ latency: latency(500, 1000) }), side(), T).reasons[0]).toMatch(/canary p99/);
  });

  it('judges the latency quantile the window supports: one slow request in 20 is not a p99', () => {
    expect(judgedQuantile(1000)).toBeCloseTo(0.99);
    expect(judgedQuantile(100)).toBeCloseTo(0.9);
    expect(judgedQuantile(20)).toBe(0.5);
    // 19 fast and 1 slow canary request: its median is fast.
    const mixed = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, Number.POSITIVE_INFINITY].map((le) => ({ le, count: le >= 0.01 ? (le >= 2.5 ? 20 : 19) : 0 }));
    expect(judge(side({ responses: 20, latency: mixed }), side(), { ...T, minRequests: 10 }).state).toBe('healthy');
  });

  it('dead letters of canary writes count at once, even below min requests, against the stable rate', () => {
    const v = judge(side({ responses: 3, enqueued: 3, deadLetters: 3, latency: latency(8, 3) }), side(), T);
    expect(v.state).toBe('unhealthy');
    expect(v.reasons[0]).toMatch(/dead letters: 3 of the canary/);
    // The stable servers dead-letter bad client input at the same rate: not the canary's fault.
    expect(judge(side({ enqueued: 1000, deadLetters: 20 }), side({ enqueued: 1000, deadLetters: 20 }), T).state).toBe('healthy');
  });

  it('unhealthy on enqueue failures (a canary whose Redis is gone answers 503 before enqueueing)', () => {
    expect(judge(side({ enqueued: 0, enqueueFailures: 100 }), side(), T).reasons.join()).toMatch(/enqueue failures: 100.00 %/);
  });
});

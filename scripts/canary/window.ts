import { setTimeout as sleep } from 'node:timers/promises';
import { judge, type Figures, type Side, type SideNames, type Thresholds } from './judge.ts';

/**
 * Watching one step's window, shared by the canary controller (canary
 * servers against stable ones) and the flag rollout (users with the flag on
 * against users with it off): every `checkMs` both sides' counters are read at
 * one moment and compared with those at the step's start (the same window for
 * both). A rule broken at any check ends the step at once; the step passes
 * when the interval is over with `minRequests` candidate responses; a step
 * that cannot be judged for `maxWaitMs` (too little traffic, or nothing
 * answered the observation) fails as `insufficient-traffic`.
 */

/** How a controller reads its two sides. */
export interface WindowSource<S> {
  /** Read every counter now (throws when it cannot: the check is skipped). */
  observe(): Promise<S>;
  /** When `s` was read (ms since the epoch). */
  at(s: S): number;
  /** What the candidate (canary, flag on) and the control (stable, flag off) did between two readings. */
  sides(a: S, b: S): { candidate: Side; control: Side };
}

/** Timing and rules of a window. */
export interface WindowOptions {
  intervalMs: number;
  checkMs: number;
  maxWaitMs: number;
  thresholds: Thresholds;
  /** The sides' names in reasons (default canary, stable). */
  names?: SideNames;
  print(line: string): void;
}

/** The judged window. */
export interface WindowResult {
  startedAt: string;
  windowMs: number;
  verdict: 'healthy' | 'unhealthy' | 'insufficient-traffic';
  reasons: string[];
  candidate: Figures;
  control: Figures;
  /** The control side's raw figures (the baseline of a later step where the control gets nothing). */
  controlSide: Side;
}

/** A side with nothing in it. */
export function emptySide(): Side {
  return { responses: 0, errors: 0, latency: [], enqueued: 0, enqueueFailures: 0, deadLetters: 0 };
}

/**
 * Judge one step's window until it passes, fails or runs out of time.
 * `baseline`: the control's figures of an earlier window, used when the
 * control side has no traffic in this one (the 100 % step).
 */
export async function watchWindow<S>(o: WindowOptions, src: WindowSource<S>, baseline: Side | undefined): Promise<WindowResult> {
  const began = Date.now();
  // A check that cannot observe (a scrape timed out) is skipped; a step that cannot observe for
  // max-wait fails: what nobody can judge is not promoted.
  const observe = async (): Promise<S | null> => {
    try {
      return await src.observe();
    } catch (err) {
      o.print(`  could not observe (${(err as Error).message}); retrying`);
      return null;
    }
  };
  const unobservable = (): WindowResult => {
    const none = judge(emptySide(), emptySide(), o.thresholds);
    return { startedAt: new Date(began).toISOString(), windowMs: Date.now() - began, verdict: 'insufficient-traffic', reasons: [`could not observe for ${Date.now() - began} ms`], candidate: none.canary, control: none.stable, controlSide: emptySide() };
  };
  let start: S | null = null;
  while (start === null) {
    start = await observe();
    if (start === null) {
      if (Date.now() - began >= o.maxWaitMs) return unobservable();
      await sleep(o.checkMs);
    }
  }
  const startedAt = new Date(src.at(start)).toISOString();
  for (;;) {
    await sleep(o.checkMs);
    const now = await observe();
    if (now === null) {
      if (Date.now() - began >= o.maxWaitMs) return unobservable();
      continue;
    }
    const { candidate, control } = src.sides(start, now);
    const v = judge(candidate, control.responses > 0 || baseline === undefined ? control : baseline, o.thresholds, o.names);
    const elapsed = src.at(now) - src.at(start);
    const base = { startedAt, windowMs: elapsed, reasons: v.reasons, candidate: v.canary, control: v.stable, controlSide: control };
    if (v.state === 'unhealthy') return { ...base, verdict: 'unhealthy' };
    if (elapsed >= o.intervalMs && v.state === 'healthy') return { ...base, verdict: 'healthy' };
    if (elapsed >= o.maxWaitMs) return { ...base, verdict: 'insufficient-traffic', reasons: [`only ${v.canary.responses} ${o.names?.candidate ?? 'canary'} responses in ${elapsed} ms (--min-requests ${o.thresholds.minRequests})`] };
  }
}

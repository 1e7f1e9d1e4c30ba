/**
 * The verdict on one window: the canary servers against the stable ones,
 * over the same interval (both sides' counters read at the same two moments).
 * Pure, so every rule is unit-tested (scripts/canary/judge.test.ts).
 */

/** What one side (canary or stable servers, summed) did during the window. */
export interface Side {
  /** Responses HAProxy counted (hrsp_1xx…5xx, other). */
  responses: number;
  /** 5xx answers plus connection and response errors (econ, eresp): what a client saw as a failure. */
  errors: number;
  /** Latency histogram of the gateways' `sluice_http_request_duration_seconds`: cumulative counts by upper bound (s). */
  latency: { le: number; count: number }[];
  /** Writes the gateways acknowledged as queued (`sluice_requests_enqueued_total`). */
  enqueued: number;
  /** Writes refused with 503 before or while enqueueing (`sluice_writes_rejected_total`, `sluice_enqueue_failures_total`). */
  enqueueFailures: number;
  /** Dead letters whose job id names one of this side's gateway nodes. */
  deadLetters: number;
}

/** The thresholds (CLI options). */
export interface Thresholds {
  /** A verdict needs this many canary responses in the window. */
  minRequests: number;
  /** Canary error rate may exceed the stable one by this much (0.01 = 1 point). */
  maxErrorRateDelta: number;
  /** Canary latency (p99, or the quantile the window's sample supports: `judgedQuantile`) may reach `stable's × ratio` … */
  maxLatencyRatio: number;
  /** … or this floor (ms), whichever is higher (sub-millisecond p99s differ by noise). */
  latencyFloorMs: number;
  /** Canary dead letters per enqueued write may exceed the stable rate by this much. */
  maxDeadLetterRateDelta: number;
  /** Canary enqueue failures per write may exceed the stable rate by this much. */
  maxEnqueueFailureRateDelta: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { minRequests: 50, maxErrorRateDelta: 0.01, maxLatencyRatio: 2, latencyFloorMs: 100, maxDeadLetterRateDelta: 0.01, maxEnqueueFailureRateDelta: 0.01 };

/** A window's figures and verdict. */
export interface Verdict {
  /** `healthy`: enough traffic and no rule broken; `unhealthy`: a rule broken; `pending`: too little canary traffic yet. */
  state: 'healthy' | 'unhealthy' | 'pending';
  reasons: string[];
  canary: Figures;
  stable: Figures;
}

/** Rates and p99 of one side. */
export interface Figures {
  responses: number;
  errorRate: number;
  p99Ms: number | null;
  enqueued: number;
  deadLetters: number;
  deadLetterRate: number;
  enqueueFailureRate: number;
}

const rate = (n: number, d: number) => (d === 0 ? 0 : n / d);

/** A quantile from cumulative buckets: the upper bound of the first bucket holding `q` of them (null without samples). */
export function quantileMs(latency: Side['latency'], q: number): number | null {
  const total = latency.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const b = latency.find((x) => x.count >= q * total)!;
  return Number.isFinite(b.le) ? b.le * 1000 : Number.POSITIVE_INFINITY;
}

/** p99 (null without samples). */
export function p99Ms(latency: Side['latency']): number | null {
  return quantileMs(latency, 0.99);
}

/**
 * The latency quantile a window can support: at least 10 of the canary's
 * samples above it (p99 from 1,000 requests, p90 from 100, the median below
 * 20). A p99 of 20 requests is their maximum, one slow request on a busy
 * machine, and would roll back healthy canaries.
 */
export function judgedQuantile(canarySamples: number): number {
  return Math.max(0.5, Math.min(0.99, 1 - 10 / Math.max(canarySamples, 1)));
}

function figures(s: Side): Figures {
  return {
    responses: s.responses,
    errorRate: rate(s.errors, s.responses),
    p99Ms: p99Ms(s.latency),
    enqueued: s.enqueued,
    deadLetters: s.deadLetters,
    // Dead letters are read a moment after the metrics: never more than one per write.
    deadLetterRate: rate(s.deadLetters, Math.max(s.enqueued, s.deadLetters)),
    enqueueFailureRate: rate(s.enqueueFailures, s.enqueued + s.enqueueFailures),
  };
}

/** What the two sides are called in the reasons (the canary controller's by default; a flag rollout's: flag-on, flag-off). */
export interface SideNames {
  candidate: string;
  control: string;
}

/**
 * Judge a window. Dead letters are judged as soon as they appear (they are
 * damage done after a 202, not noise), everything else once the canary has
 * answered `minRequests`. `stable` may be a previous window's figures when
 * the stable servers had no traffic (the 100 % step).
 */
export function judge(canary: Side, stable: Side, t: Thresholds, names: SideNames = { candidate: 'canary', control: 'stable' }): Verdict {
  const c = figures(canary);
  const s = figures(stable);
  const reasons: string[] = [];
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  if (c.deadLetters > 0 && c.deadLetterRate > s.deadLetterRate + t.maxDeadLetterRateDelta) {
    reasons.push(`dead letters: ${c.deadLetters} of the ${names.candidate}'s writes (${c.enqueued} counted queued; ${pct(c.deadLetterRate)}) vs ${names.control} ${pct(s.deadLetterRate)}`);
  }
  if (c.responses >= t.minRequests) {
    if (c.errorRate > s.errorRate + t.maxErrorRateDelta) reasons.push(`errors: ${pct(c.errorRate)} of ${c.responses} ${names.candidate} responses vs ${names.control} ${pct(s.errorRate)}`);
    if (c.enqueueFailureRate > s.enqueueFailureRate + t.maxEnqueueFailureRateDelta) reasons.push(`enqueue failures: ${pct(c.enqueueFailureRate)} vs ${names.control} ${pct(s.enqueueFailureRate)}`);
    const q = judgedQuantile(canary.latency.at(-1)?.count ?? 0);
    const cq = quantileMs(canary.latency, q);
    const sq = quantileMs(stable.latency, q);
    const limit = Math.max((sq ?? 0) * t.maxLatencyRatio, t.latencyFloorMs);
    const name = `p${Math.round(q * 100)}`;
    if (cq !== null && cq > limit) reasons.push(`latency: ${names.candidate} ${name} ≤ ${cq} ms vs limit ${limit} ms (${names.control} ${name} ≤ ${sq ?? '-'} ms)`);
  }
  const state = reasons.length > 0 ? 'unhealthy' : c.responses >= t.minRequests ? 'healthy' : 'pending';
  return { state, reasons, canary: c, stable: s };
}

import { DEFAULT_THRESHOLDS, type Thresholds } from './judge.ts';

/** Options both `pnpm canary` and `pnpm canary flag` take (parseArgs spec): the window's timing and the judgement's thresholds. */
export const JUDGEMENT_OPTIONS = {
  interval: { type: 'string', default: '60000' },
  check: { type: 'string', default: '1000' },
  'max-wait': { type: 'string' },
  'min-requests': { type: 'string' },
  'max-error-rate-delta': { type: 'string' },
  'max-latency-ratio': { type: 'string' },
  'latency-floor-ms': { type: 'string' },
  'max-dead-letter-rate-delta': { type: 'string' },
  'max-enqueue-failure-rate-delta': { type: 'string' },
} as const;

/** Their usage lines. */
export const JUDGEMENT_USAGE = `  --interval MS          how long each step is watched (default 60000)
  --check MS             how often the window is judged; an unhealthy check ends the step at once (default 1000)
  --max-wait MS          a step still short of --min-requests after this fails (default 3 x interval)
  --min-requests N       responses of the candidate side a step needs for a verdict (default ${DEFAULT_THRESHOLDS.minRequests})
  --max-error-rate-delta X      candidate 5xx/connection-error rate above the control's by more than X (default ${DEFAULT_THRESHOLDS.maxErrorRateDelta})
  --max-latency-ratio X         candidate p99 above the control's p99 x X ... (default ${DEFAULT_THRESHOLDS.maxLatencyRatio})
  --latency-floor-ms MS         ... and above this floor (default ${DEFAULT_THRESHOLDS.latencyFloorMs})
  --max-dead-letter-rate-delta X  candidate writes dead-lettered above the control's rate by X (default ${DEFAULT_THRESHOLDS.maxDeadLetterRateDelta})
  --max-enqueue-failure-rate-delta X (default ${DEFAULT_THRESHOLDS.maxEnqueueFailureRateDelta})`;

/** A non-negative number option (its default when absent); throws with the option's name. */
export function numberOption(name: string, s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const x = Number(s);
  if (!Number.isFinite(x) || x < 0) throw new Error(`--${name}: a non-negative number (got ${s})`);
  return x;
}

type JudgementValues = { [K in keyof typeof JUDGEMENT_OPTIONS]?: string | undefined };

/** Timing and thresholds from parsed options. */
export function judgementOf(v: JudgementValues): { intervalMs: number; checkMs: number; maxWaitMs: number; thresholds: Thresholds } {
  const t = DEFAULT_THRESHOLDS;
  const n = numberOption;
  const intervalMs = n('interval', v.interval, 60_000);
  return {
    intervalMs,
    checkMs: n('check', v.check, 1000),
    maxWaitMs: n('max-wait', v['max-wait'], intervalMs * 3),
    thresholds: {
      minRequests: n('min-requests', v['min-requests'], t.minRequests),
      maxErrorRateDelta: n('max-error-rate-delta', v['max-error-rate-delta'], t.maxErrorRateDelta),
      maxLatencyRatio: n('max-latency-ratio', v['max-latency-ratio'], t.maxLatencyRatio),
      latencyFloorMs: n('latency-floor-ms', v['latency-floor-ms'], t.latencyFloorMs),
      maxDeadLetterRateDelta: n('max-dead-letter-rate-delta', v['max-dead-letter-rate-delta'], t.maxDeadLetterRateDelta),
      maxEnqueueFailureRateDelta: n('max-enqueue-failure-rate-delta', v['max-enqueue-failure-rate-delta'], t.maxEnqueueFailureRateDelta),
    },
  };
}

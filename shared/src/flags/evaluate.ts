import { bucketOf } from './bucket.ts';

/** A stored flag, as every gateway and SDK holds it. */
export interface Flag {
  name: string;
  enabled: boolean;
  /** Percent of users (0–100) for whom an enabled flag is on. */
  rollout: number;
  description: string;
  /** The change that produced this state (a global, ever-rising number). */
  version: number;
  updatedBy: string;
  updatedAt: string;
}

/**
 * Why an evaluation came out as it did: `disabled` (the kill switch),
 * `rollout-in` / `rollout-out` (the user's bucket against the rollout),
 * `unknown` (no such flag: off).
 */
export type Reason = 'disabled' | 'rollout-in' | 'rollout-out' | 'unknown';

/** One answer: the wire shape of GET /v1/flags/{name}. */
export interface Evaluation {
  name: string;
  enabled: boolean;
  /** The flag's version (0 for an unknown flag). */
  version: number;
  reason: Reason;
}

/** Evaluate `flag` (undefined: unknown) for `userId`. Pure: the gateway and the OpenFeature provider share it. */
export function evaluate(name: string, flag: Pick<Flag, 'enabled' | 'rollout' | 'version'> | undefined, userId: string): Evaluation {
  if (flag === undefined) return { name, enabled: false, version: 0, reason: 'unknown' };
  if (!flag.enabled) return { name, enabled: false, version: flag.version, reason: 'disabled' };
  // 0 and 100 need no hash: no bucket is ≤ 0, every bucket is ≤ 100.
  const inside = flag.rollout >= 100 || (flag.rollout > 0 && bucketOf(name, userId) <= flag.rollout);
  return { name, enabled: inside, version: flag.version, reason: inside ? 'rollout-in' : 'rollout-out' };
}

/** Flag names: what fits a URL segment and a metric label without escaping. */
export const FLAG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

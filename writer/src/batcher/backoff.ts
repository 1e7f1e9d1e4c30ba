/**
 * Jittered exponential backoff ("full jitter" halved: between half and all of
 * the exponential step), so writers retrying after one Postgres restart do
 * not come back in lockstep. `attempt` counts from 1.
 */
export function backoffMs(attempt: number, baseMs = 50, capMs = 3000, random: () => number = Math.random): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 16));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * Server weights that give the canary servers `share` percent of the requests
 * under `balance roundrobin` (deploy/haproxy.cfg): HAProxy weights are 0–256
 * and a server's share is its weight over the sum, so both sides are set.
 * Exact when `share × stable` and `(100 − share) × canaries` fit in 256;
 * otherwise scaled down and rounded (never to 0 on a side that should get
 * traffic).
 */
export function weightsFor(share: number, canaries: number, stables: number): { canary: number; stable: number } {
  if (share <= 0) return { canary: 0, stable: 100 };
  if (share >= 100) return { canary: 100, stable: 0 };
  let canary = share * stables;
  let stable = (100 - share) * canaries;
  const top = Math.max(canary, stable);
  if (top > 256) {
    canary = Math.max(1, Math.round((canary * 256) / top));
    stable = Math.max(1, Math.round((stable * 256) / top));
  }
  return { canary, stable };
}

/** The steps option: ascending percents in 1…100 ending at 100 (`5,10,25,50,100`). */
export function parseSteps(s: string): number[] {
  const steps = s.split(',').map((x) => Number(x.trim()));
  if (steps.length === 0 || steps.some((x) => !Number.isInteger(x) || x < 1 || x > 100)) throw new Error(`--steps: integers 1–100, comma-separated (got ${s})`);
  for (let i = 1; i < steps.length; i += 1) if (steps[i]! <= steps[i - 1]!) throw new Error(`--steps must rise (got ${s})`);
  if (steps.at(-1) !== 100) throw new Error('--steps must end at 100');
  return steps;
}

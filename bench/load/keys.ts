/** Which key each read request asks for. */
export type KeyPattern =
  | { mode: 'fixed'; key: string }
  /** `start`, `start + 1`, …: a fresh key per request (every one a miss). */
  | { mode: 'seq'; start: number }
  /** 1…n in turn: n hot keys, each read equally often. */
  | { mode: 'cycle'; n: number }
  /** Zipf(s) over 1…n: key 1 is the hottest. */
  | { mode: 'zipf'; n: number; s: number };

/** Inverse-CDF sampler of Zipf(s) over ranks 1…n (rank = key: key 1 is the hottest). */
export function zipfSampler(n: number, s: number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = sum += 1 / k ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = Math.random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

/** A function returning the next key of `p`. */
export function keyFn(p: KeyPattern): () => string {
  if (p.mode === 'fixed') return () => p.key;
  if (p.mode === 'seq') {
    let i = p.start;
    return () => String(i++);
  }
  if (p.mode === 'cycle') {
    let i = 0;
    return () => String((i++ % p.n) + 1);
  }
  const z = zipfSampler(p.n, p.s);
  return () => String(z());
}

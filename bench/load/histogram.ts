/**
 * Latency histogram in whole microseconds with HdrHistogram-style buckets:
 * exact below 256 µs, then 128 buckets per power of two (under 0.8 % error).
 * Recording is two integer ops and an array increment, no allocation, so the
 * load generator can time every request.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per doubling
// Up to 2^31 µs (36 min): (31 - SUB_BITS) doublings above the exact range.
const BUCKETS = SUB * 2 + SUB * (31 - SUB_BITS);

function indexOf(us: number): number {
  if (us < 2 * SUB) return us;
  const shift = 31 - Math.clz32(us) - SUB_BITS; // ≥ 1
  return SUB * shift + (us >>> shift);
}

/** The middle of bucket `i`, in µs. */
function valueOf(i: number): number {
  if (i < 2 * SUB) return i;
  const shift = Math.floor(i / SUB) - 1;
  const low = (i - SUB * shift) << shift;
  return low + (1 << shift) / 2;
}

/** Latency percentiles, mean and max, in ms. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Counts of latencies (µs) by bucket. */
export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private sumUs = 0;
  private maxUs = 0;

  /** Record one latency given in ms (as `performance.now()` differences are). */
  record(ms: number): void {
    const us = Math.min(0x7fffffff, Math.round(ms * 1000));
    this.counts[indexOf(us)]!++;
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** How many latencies were recorded. */
  get count(): number {
    return this.n;
  }

  /** The value (µs) at or below which `p` percent of recorded latencies lie. */
  percentileUs(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  /** Percentiles in ms. */
  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      p50: ms(this.percentileUs(50)),
      p95: ms(this.percentileUs(95)),
      p99: ms(this.percentileUs(99)),
      max: ms(this.maxUs),
      mean: this.n ? ms(this.sumUs / this.n) : 0,
    };
  }
}

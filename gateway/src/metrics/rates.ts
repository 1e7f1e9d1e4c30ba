/**
 * Requests a second over the last WINDOW_S seconds, for `GET /v1/admin/status`
 * (Prometheus has the real rates; this is what one gateway saw, for a terminal).
 * One counter per second in a ring: an increment is an array write.
 */
const WINDOW_S = 10;

/** A per-second ring of counts. */
export class RateMeter {
  private readonly counts = new Array<number>(WINDOW_S + 1).fill(0);
  private readonly seconds = new Array<number>(WINDOW_S + 1).fill(-1);

  /** Count one event now. */
  mark(now = Date.now()): void {
    const s = Math.floor(now / 1000);
    const i = s % this.counts.length;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i]!++;
  }

  /** Events a second over the last full WINDOW_S seconds. */
  perSecond(now = Date.now()): number {
    const s = Math.floor(now / 1000);
    let n = 0;
    for (let i = 0; i < this.counts.length; i++) if (this.seconds[i]! < s && this.seconds[i]! >= s - WINDOW_S) n += this.counts[i]!;
    return n / WINDOW_S;
  }
}

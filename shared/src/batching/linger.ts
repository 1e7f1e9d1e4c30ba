/**
 * How long a batch waits for company: the gateway's coalescer
 * (SLUICE_ENQUEUE_LINGER_MS) and the writer's batcher (SLUICE_BATCH_LINGER_MS)
 * each keep one `Linger` per partition.
 *
 * Fixed (SLUICE_ADAPTIVE_LINGER=false): always the configured time.
 *
 * Adaptive (the default), in the manner of ClickHouse's adaptive async-insert
 * timeout and of Kafka's `linger.ms` seen as a ceiling: the configured time is
 * the most a batch ever waits, and the wait follows the load. A batch that
 * found company (two items or more; for the writer, two jobs or more in its
 * transaction, group commit included) sets the next wait to the ceiling;
 * four batches in a row that stayed alone halve it, down to nothing. So a lone
 * client's writes soon go out at once (no linger added to their latency),
 * while under load the wait stays at the ceiling and every batch gathers as
 * much as the fixed setting would.
 *
 * Why up at once and down slowly: under load some batches find no company by
 * chance, and fewer the shorter the wait, so a wait that halves at each and
 * climbs back step by step settles far below the ceiling. Tried first at
 * 100 connections (`pnpm bench --adaptive-linger off,on`): transactions a
 * third smaller and 15–30 % more CPU per row in every process than the fixed
 * linger. A batch sealed because it was full says nothing about the wait and
 * changes nothing.
 *
 * Zero still batches what arrives in the same turn of the event loop (see `after`).
 */
/** Lone batches in a row that halve the wait. */
const LONE_TO_SHRINK = 4;

export class Linger {
  private ms: number;
  private lone = 0;

  constructor(
    /** The configured linger: the fixed wait, or the adaptive wait's ceiling. */
    private readonly ceilingMs: number,
    private readonly adaptive: boolean,
  ) {
    // Adaptive starts at zero: the first batches of a quiet partition go out at once.
    this.ms = adaptive ? 0 : ceilingMs;
  }

  /** The wait for the next batch that opens, in ms (fractions allowed). */
  get currentMs(): number {
    return this.ms;
  }

  /** A batch was sealed with `items` items (jobs, requests); `full` when its size sealed it. */
  sealed(items: number, full: boolean): void {
    if (!this.adaptive || full) return;
    if (items >= 2) {
      this.lone = 0;
      this.ms = this.ceilingMs;
    } else if (++this.lone >= LONE_TO_SHRINK) {
      this.lone = 0;
      // Below a sixteenth of the ceiling the wait buys nothing the same-turn batching does not.
      this.ms = this.ms / 2 < this.ceilingMs / 16 ? 0 : this.ms / 2;
    }
  }
}

/**
 * Call `fn` after `ms`; with 0, after the current turn of the event loop
 * (`setImmediate`: what arrived in the same turn still joins, and unlike
 * `setTimeout(0)` it is not clamped to 1 ms). Returns the cancel.
 */
export function after(ms: number, fn: () => void): () => void {
  if (ms <= 0) {
    const i = setImmediate(fn);
    return () => clearImmediate(i);
  }
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
}

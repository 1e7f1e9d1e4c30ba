/**
 * Micro-batcher of one partition, in the style of graphile-worker's
 * `batch()`: items accumulate and are flushed as one batch, with exactly one
 * flush in flight at a time.
 *
 * States:
 * - idle:      nothing open, nothing in flight.
 * - open:      items accumulating since the first one arrived. The batch is
 *              sealed when it reaches `maxRows`, or its linger after its first
 *              item (if a flush is in flight then, as soon as that one ends),
 *              or earlier by `sealOpen()` while no flush is in flight. The
 *              linger is `lingerMs`, or with `adaptiveLinger` at most that,
 *              following the load (shared/src/batching/linger.ts).
 * - flushing:  one sealed batch in flight. A failure that `retryDelay` deems
 *              retryable re-runs the SAME batch after the delay, never
 *              reordered and never merged with later items; meanwhile new
 *              items form the next batch (sealed batches wait in order).
 * - draining:  `stop()` was called: linger is zero, whatever is open is
 *              sealed and flushed as soon as the flush slot is free.
 * - stopped:   the drain finished. Items submitted later (BullMQ can hand
 *              over a job it fetched just before closing) are still flushed
 *              at once, so a job is never left without an answer.
 *
 * Order is submission order across batches and within each batch.
 */
import { Linger, after } from '@sluice/shared/batching/linger.ts';

/** Settings and callbacks of a batcher. */
export interface BatcherOptions<T> {
  maxRows: number;
  /** SLUICE_BATCH_LINGER_MS: the linger, or with `adaptiveLinger` its ceiling. */
  lingerMs: number;
  /** SLUICE_ADAPTIVE_LINGER: wait less when batches stay alone (default false here; the writer passes the config). */
  adaptiveLinger?: boolean;
  /** Told the wait each batch is given when it opens, in ms (a metric). */
  onLinger?(ms: number): void;
  /** Size of an item in rows. */
  rowsOf(item: T): number;
  /**
   * Flush one batch; resolve once it is durable, optionally with how many
   * items its transaction committed in all (group commit: other partitions'
   * too), the adaptive linger's measure of company; by default the batch's own.
   * `attempt` counts from 1.
   */
  flush(items: readonly T[], attempt: number): Promise<number | void>;
  /** After a failed flush: ms to wait before retrying the same batch, or null to fail its items. */
  retryDelay(err: unknown, attempt: number): number | null;
}

interface Pending<T> {
  item: T;
  resolve(): void;
  reject(err: unknown): void;
}

/** One partition's batcher (see the state description above). */
export class Batcher<T> {
  private open: Pending<T>[] = [];
  private openRows = 0;
  private lingerDue = false;
  private cancelLinger: (() => void) | undefined;
  private readonly linger: Linger;
  /** Sealed batches in order; `observe`: what its commit says feeds the adaptive linger (not for a full or draining batch). */
  private readonly sealed: { batch: Pending<T>[]; observe: boolean }[] = [];
  private inFlight: Promise<void> | undefined;
  private draining = false;
  private stopping: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: BatcherOptions<T>) {
    this.linger = new Linger(o.lingerMs, o.adaptiveLinger ?? false);
  }

  /** The linger the next batch will wait, in ms (a gauge for tests and metrics). */
  get lingerMs(): number {
    return this.linger.currentMs;
  }

  /** True while a batch is being flushed. */
  get flushing(): boolean {
    return this.inFlight !== undefined;
  }

  /** Add an item; resolves when the batch holding it has been flushed, rejects if it was given up. */
  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const rows = this.o.rowsOf(item);
      // Seal first rather than overfill: a batch exceeds maxRows only when one item alone does.
      if (this.open.length > 0 && this.openRows + rows > this.o.maxRows) this.seal('full');
      this.open.push({ item, resolve, reject });
      this.openRows += rows;
      if (this.openRows >= this.o.maxRows) this.seal('full');
      else if (this.draining) this.seal('drain');
      else if (this.open.length === 1) this.armLinger();
      this.pump();
    });
  }

  /**
   * Seal what is open now, without waiting for its linger, and flush it at
   * once — only while no flush is in flight (then the open batch keeps
   * growing as usual). Group commit calls it when a shared transaction is
   * about to start (flush/group-commit.ts): the batch rides along sooner.
   */
  sealOpen(): void {
    if (this.open.length === 0 || this.inFlight !== undefined) return;
    this.seal('early');
    this.pump();
  }

  /**
   * Flush what is open now, wait for every flush to finish. Idempotent: the
   * same promise on every call.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.draining = true;
      this.seal('drain');
      this.pump();
      await this.whenIdle();
    })();
    return this.stopping;
  }

  private armLinger(): void {
    this.lingerDue = false;
    this.o.onLinger?.(this.linger.currentMs);
    this.cancelLinger = after(this.linger.currentMs, () => {
      this.cancelLinger = undefined;
      this.lingerDue = true;
      this.pump();
    });
  }

  /**
   * Close the open batch. `why` decides whether it feeds the adaptive linger:
   * a batch sealed for its size or by a drain says nothing about how long to
   * wait; one sealed by its linger or early (group commit) does, once
   * committed, by how many items its transaction held (see `run`).
   */
  private seal(why: 'full' | 'linger' | 'early' | 'drain'): void {
    this.cancelLinger?.();
    this.cancelLinger = undefined;
    this.lingerDue = false;
    if (this.open.length === 0) return;
    this.sealed.push({ batch: this.open, observe: why === 'linger' || why === 'early' });
    this.open = [];
    this.openRows = 0;
  }

  /** Start the next flush if the slot is free and a batch is ready. */
  private pump(): void {
    if (this.inFlight) return;
    if (this.sealed.length === 0 && this.open.length > 0 && (this.lingerDue || this.draining)) this.seal(this.draining ? 'drain' : 'linger');
    const next = this.sealed.shift();
    if (!next) {
      if (this.open.length === 0) this.notifyIdle();
      return;
    }
    this.inFlight = this.run(next.batch, next.observe).finally(() => {
      this.inFlight = undefined;
      this.pump();
    });
  }

  /** Flush one batch until it succeeds or `retryDelay` gives up; settles every item. */
  private async run(batch: Pending<T>[], observe: boolean): Promise<void> {
    const items = batch.map((p) => p.item);
    for (let attempt = 1; ; attempt++) {
      try {
        const together = await this.o.flush(items, attempt);
        // Under group commit the company that counts is the transaction's: other partitions' batches ride along.
        if (observe) this.linger.sealed(typeof together === 'number' ? Math.max(together, items.length) : items.length, false);
        for (const p of batch) p.resolve();
        return;
      } catch (err) {
        const delay = this.o.retryDelay(err, attempt);
        if (delay === null) {
          for (const p of batch) p.reject(err);
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.inFlight && this.sealed.length === 0 && this.open.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

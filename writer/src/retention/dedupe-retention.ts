import type { Pool } from '@sluice/shared/db/pool.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { databaseNow, deleteAppliedJobsBefore, deleteIdempotencyKeysBefore } from '@sluice/shared/sql/retention.ts';

/**
 * Keeps `sluice.applied_jobs` and `sluice.idempotency_keys` bounded: every
 * interval, on every shard, rows older than the window are deleted in
 * batches (shared/src/sql/retention.ts says why deletes, not partitions).
 *
 * The window (SLUICE_DEDUPE_RETENTION_S) must cover two things:
 * - the Idempotency-Key TTL: a retry within the TTL must still find its key
 *   in Postgres when Redis no longer has it (config refuses a shorter window);
 * - redelivery: an applied job is skipped on redelivery only while its row
 *   exists. A job can be redelivered only while it is still in its partition's
 *   log (taken by a writer that died after COMMIT, or handed back by a fenced
 *   one); completed jobs leave the log and ids never repeat. How long one may
 *   stay there has no bound (every writer down for a week), so the window is
 *   not trusted for it: applied-job rows are kept back to the oldest job still
 *   in any log of the shard, less a margin for the gateways' clocks (job
 *   times are theirs, applied_at is the primary's).
 *
 * Every writer runs it; batches skip rows another writer is deleting, so two
 * never wait on each other, and a pause between batches leaves the primary to
 * the write path.
 */

/** Gateways' clocks may be this far ahead of the primary's. */
export const CLOCK_MARGIN_MS = 5 * 60_000;

/** Settings of the retention loop. */
export interface RetentionSettings {
  /** SLUICE_DEDUPE_RETENTION_S */
  windowS: number;
  /** SLUICE_RETENTION_INTERVAL_MS */
  intervalMs: number;
  /** SLUICE_RETENTION_BATCH_ROWS */
  batchRows: number;
}

/** One shard as retention sees it. */
export interface RetentionShard {
  name: string;
  db: Pool;
  /** The oldest append time (ms, gateway clock) of any job still in a log of this shard, or null when all are empty. */
  oldestQueuedAt(): Promise<number | null>;
  /** Throws when the server behind the shard's address must not take writes (an old primary back: confirm/timeline-floor.ts). */
  guard?(): Promise<void>;
}

/** Rows removed by one pass, per table. */
export interface RetentionPass {
  appliedJobs: number;
  idempotencyKeys: number;
}

/**
 * Between two batches of one pass, wait at least this long, and at least
 * DUTY_PAUSE times the last batch took: a pass over a large backlog of old
 * records (retention turned on for a busy table, writers down for days) then
 * keeps one connection busy a fifth of the time at most. Deleting as fast as
 * it could, a pass took 0.72× the writes/s and 1.39× the p95 of the write path
 * (`pnpm bench --only queued --retention 8000000`). The steady state is far
 * below either pace: one applied-job record ages out per job written.
 */
const BATCH_PAUSE_MS = 10;
const DUTY_PAUSE = 4;

/** The retention loop of one writer. */
export class DedupeRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly s: RetentionSettings,
    private readonly shards: () => readonly RetentionShard[],
    private readonly log: Logger,
    private readonly onRemoved: (table: 'applied_jobs' | 'idempotency_keys', rows: number) => void = () => {},
  ) {}

  /** Run a pass now and then every interval. */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.passAll()
        .catch((err: unknown) => this.log.warn({ err }, 'dedupe retention pass failed (tried again next interval)'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.s.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stop after the batch in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async passAll(): Promise<void> {
    for (const shard of this.shards()) {
      const removed = await this.pass(shard);
      if (removed.appliedJobs + removed.idempotencyKeys > 0) this.log.info({ shard: shard.name, ...removed }, 'dedupe records past retention removed');
    }
  }

  /** One pass over one shard: batches until a short one (or stop). */
  async pass(shard: RetentionShard): Promise<RetentionPass> {
    await shard.guard?.();
    const [now, oldest] = await Promise.all([databaseNow(shard.db), shard.oldestQueuedAt()]);
    const windowStart = now.getTime() - this.s.windowS * 1000;
    const keysBefore = new Date(windowStart);
    const jobsBefore = new Date(oldest === null ? windowStart : Math.min(windowStart, oldest - CLOCK_MARGIN_MS));
    const appliedJobs = await this.drain((n) => deleteAppliedJobsBefore(shard.db, jobsBefore, n), 'applied_jobs');
    const idempotencyKeys = await this.drain((n) => deleteIdempotencyKeysBefore(shard.db, keysBefore, n), 'idempotency_keys');
    return { appliedJobs, idempotencyKeys };
  }

  private async drain(batch: (limit: number) => Promise<number>, table: 'applied_jobs' | 'idempotency_keys'): Promise<number> {
    let total = 0;
    for (;;) {
      const t0 = performance.now();
      const n = await batch(this.s.batchRows);
      const took = performance.now() - t0;
      total += n;
      if (n > 0) this.onRemoved(table, n);
      if (n < this.s.batchRows || this.stopped) return total;
      await new Promise((r) => setTimeout(r, Math.max(BATCH_PAUSE_MS, DUTY_PAUSE * took)));
    }
  }
}

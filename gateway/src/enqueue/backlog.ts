import type { Queue } from 'bullmq';
import type { Logger } from '@sluice/shared';

/** Job states that still need a writer. */
const BACKLOG_STATES = ['wait', 'active', 'delayed', 'prioritized', 'paused'] as const;

/**
 * The queue backlog, polled on a timer so admission control reads a number
 * instead of asking Redis per request. One poll in flight at a time; a failed
 * poll keeps the last figure (admission also refuses while the producer
 * connection is not ready, which is what a failed poll usually means).
 */
export class BacklogMonitor {
  /** Jobs over all partitions at the last successful poll. */
  depth = 0;
  /** Jobs per partition at the last successful poll. */
  readonly perPartition: number[];
  private lastOkAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly queues: readonly Queue[],
    private readonly intervalMs: number,
    /** Is the Redis connection up? BullMQ would otherwise park the poll until it is. */
    private readonly connected: () => boolean,
    private readonly log: Logger,
  ) {
    this.perPartition = queues.map(() => 0);
  }

  /** Poll once now (so the first requests see a real figure), then every `intervalMs`. */
  async start(): Promise<void> {
    await this.poll();
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.poll().catch(() => {}); // poll() logs its own failures
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stop polling. Idempotent; a poll in flight ends on its own (bounded by the command timeout). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Milliseconds since the last successful poll (Infinity before the first). */
  ageMs(): number {
    return this.lastOkAt === 0 ? Number.POSITIVE_INFINITY : Date.now() - this.lastOkAt;
  }

  /** One poll of every partition queue; concurrent callers share it. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    if (!this.connected()) return;
    try {
      const counts = await Promise.all(this.queues.map((q) => q.getJobCounts(...BACKLOG_STATES)));
      let total = 0;
      counts.forEach((c, p) => {
        const n = BACKLOG_STATES.reduce((sum, s) => sum + (c[s] ?? 0), 0);
        this.perPartition[p] = n;
        total += n;
      });
      this.depth = total;
      this.lastOkAt = Date.now();
    } catch (err) {
      this.log.debug({ err: { message: (err as Error).message } }, 'backlog poll failed');
    }
  }
}

import type { Logger } from '@sluice/shared/log/index.ts';
import type { BacklogSize, PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';

/**
 * The queue backlog, polled on a timer so admission control reads a number
 * instead of asking Redis per request. One poll in flight at a time; a failed
 * poll keeps the last figure (admission also refuses while the producer
 * connection is not ready, which is what a failed poll usually means).
 */
export class BacklogMonitor {
  /** Jobs over all partitions at the last successful poll. */
  depth = 0;
  /** Writes (requests) over all partitions at the last successful poll: what clients sent. */
  writes = 0;
  /** Payload bytes over all partitions at the last successful poll: what Redis memory is sized by. */
  bytes = 0;
  /** Each live partition's backlog at the last successful poll. */
  byPartition: ReadonlyMap<string, BacklogSize> = new Map();
  private lastOkAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly logs: PartitionLogs,
    /** The partitions that may hold jobs now (every open epoch's: the shard map's `live()`). */
    private readonly partitions: () => readonly PartitionRef[],
    private readonly intervalMs: number,
    /** Is the Redis connection up? The poll would otherwise park until it is. */
    private readonly connected: () => boolean,
    private readonly log: Logger,
  ) {}

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
      const parts = this.partitions();
      const sizes = await Promise.all(parts.map((r) => this.logs.get(r).sizes()));
      this.depth = sizes.reduce((sum, c) => sum + c.jobs, 0);
      this.writes = sizes.reduce((sum, c) => sum + c.writes, 0);
      this.bytes = sizes.reduce((sum, c) => sum + c.bytes, 0);
      this.byPartition = new Map(parts.map((r, i) => [r.name, sizes[i]!]));
      this.lastOkAt = Date.now();
    } catch (err) {
      this.log.debug({ err: { message: (err as Error).message } }, 'backlog poll failed');
    }
  }
}

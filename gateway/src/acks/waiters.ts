import type { Logger } from '@sluice/shared/log/index.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import type { WriteOutcome } from '@sluice/shared/queue/contract.ts';
import { subscribeTo, type Subscription } from '@sluice/shared/redis/pubsub.ts';

interface Waiter {
  resolve: (o: WriteOutcome | null) => void;
  deadline: number;
}

/**
 * Requests waiting for a `committed` ack. A waiter is registered under its
 * writeId before the job is sent; writers publish JSON arrays of
 * `WriteOutcome` on this node's ack channel after COMMIT.
 *
 * Every waiter has the same timeout, so the map's insertion order is deadline
 * order and one sweeper timer expires them from the front — no timer per
 * request. An outcome published while the subscriber was reconnecting is
 * lost; its request then times out (504 with the writeId to poll).
 */
export class AckWaiters {
  private readonly waiting = new Map<string, Waiter>();
  private sweeper: NodeJS.Timeout | undefined;
  private subscription: Subscription | undefined;

  constructor(
    private readonly subscriber: Redis,
    /** `ackChannel(prefix, nodeId)` */
    readonly channel: string,
    /** SLUICE_COMMIT_WAIT_MS */
    readonly waitMs: number,
    private readonly log: Logger,
  ) {}

  /** Requests waiting now. */
  get size(): number {
    return this.waiting.size;
  }

  /** Subscribe; resolves once Redis confirmed the subscription (so no outcome can be missed after). */
  async start(): Promise<void> {
    // Sharded pub/sub on a Redis Cluster (shared/src/redis/pubsub.ts).
    this.subscription = await subscribeTo(this.subscriber, this.channel, (message) => this.deliver(message));
    const period = Math.max(5, Math.min(100, Math.floor(this.waitMs / 10)));
    this.sweeper = setInterval(() => this.sweep(Date.now()), period);
    this.sweeper.unref();
  }

  /** Wait for the outcome of `writeId`; null when none came within `waitMs` (or on stop). Register before enqueueing. */
  wait(writeId: string): Promise<WriteOutcome | null> {
    return new Promise((resolve) => {
      this.waiting.set(writeId, { resolve, deadline: Date.now() + this.waitMs });
    });
  }

  /** Give up on `writeId` (its enqueue failed). */
  cancel(writeId: string): void {
    const w = this.waiting.get(writeId);
    if (w === undefined) return;
    this.waiting.delete(writeId);
    w.resolve(null);
  }

  /** Unsubscribe and release every waiter with null. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const w of this.waiting.values()) w.resolve(null);
    this.waiting.clear();
    await this.subscription?.close();
  }

  private deliver(message: string): void {
    let outcomes: unknown;
    try {
      outcomes = JSON.parse(message);
    } catch {
      this.log.warn({ channel: this.channel }, 'ignoring an ack message that is not JSON');
      return;
    }
    for (const o of Array.isArray(outcomes) ? outcomes : [outcomes]) {
      const id = (o as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') continue;
      const w = this.waiting.get(id);
      if (w === undefined) continue; // already timed out, or another process's
      this.waiting.delete(id);
      w.resolve(o as WriteOutcome);
    }
  }

  private sweep(now: number): void {
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(id);
      w.resolve(null);
    }
  }
}

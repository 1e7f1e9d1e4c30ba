import type { Fence } from './fence.ts';

/**
 * Which partitions this writer consumes. `LeasedPartitions` (the default)
 * holds one Redis lease with a fencing token per partition, so each partition
 * has one consumer at a time and per-key order survives failover;
 * `AllPartitions` consumes everything (one writer only, or tests). A strategy
 * calls `acquire` when it wins a partition and `release` when it must give
 * one up, and the writer starts or stops that partition's worker.
 */

/** What a lease-based strategy hands the consumer of a partition it won. */
export interface PartitionGrant {
  /** Fencing token of this ownership. */
  token: number;
  /** Run inside every batch transaction: throws `FencedError` when a newer owner exists. */
  fence: Fence;
  /** False once the lease may have lapsed (checked before taking each job). */
  valid(): boolean;
  /** The consumer was fenced out: the strategy releases the partition. */
  lost(reason: string): void;
}

/** Callbacks an ownership strategy drives. */
export interface OwnershipHandlers {
  /**
   * Start consuming partition `p`; resolves once its worker runs. With a
   * grant, Postgres's fencing token is already ours: the previous owner can no
   * longer commit, so its unfinished jobs can be handed back at once.
   */
  acquire(p: number, grant?: PartitionGrant): Promise<void>;
  /** Stop consuming `p`: the open batch is committed, active jobs finish. */
  release(p: number): Promise<void>;
}

/** A partition ownership strategy. */
export interface PartitionOwnership {
  /** Begin owning; call `acquire` for each partition won. */
  start(handlers: OwnershipHandlers): Promise<void>;
  /** Release every owned partition (through `release`) and stop. Idempotent. */
  stop(): Promise<void>;
  /** Partitions owned right now. */
  owned(): readonly number[];
}

/** Own every partition, for as long as the writer runs. */
export class AllPartitions implements PartitionOwnership {
  private readonly held = new Set<number>();
  private handlers: OwnershipHandlers | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly partitions: number) {}

  async start(handlers: OwnershipHandlers): Promise<void> {
    this.handlers = handlers;
    for (let p = 0; p < this.partitions; p++) {
      await handlers.acquire(p);
      this.held.add(p);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const handlers = this.handlers;
      if (!handlers) return;
      // Release all at once: each drains its own batch; allSettled so one failure never strands the rest.
      const held = [...this.held];
      this.held.clear();
      const results = await Promise.allSettled(held.map((p) => handlers.release(p)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.stopping;
  }

  owned(): readonly number[] {
    return [...this.held].sort((a, b) => a - b);
  }
}

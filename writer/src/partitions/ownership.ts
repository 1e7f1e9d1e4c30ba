/**
 * Which partitions this writer consumes. Today every writer consumes every
 * partition (`AllPartitions`): correct (dedupe is in Postgres) but per-key
 * order only holds while one writer runs. A lease-based ownership (one owner
 * per partition, handed over on death or shutdown) implements the same
 * interface: it calls `acquire` when it wins a partition and `release` when
 * it must give one up, and the writer starts or stops that partition's worker.
 */

/** Callbacks an ownership strategy drives. */
export interface OwnershipHandlers {
  /** Start consuming partition `p`; resolves once its worker runs. */
  acquire(p: number): Promise<void>;
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

import type { Fence } from '@sluice/shared/sql/partition-fences.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';

/**
 * Which partitions this writer consumes. `LeasedPartitions` (the default)
 * holds one Redis lease with a fencing token per partition, so each partition
 * has one consumer at a time and per-key order survives failover;
 * `AllPartitions` consumes everything (one writer only, or tests). A strategy
 * calls `acquire` when it wins a partition and `release` when it must give
 * one up, and the writer starts or stops that partition's consumer. Both
 * consume what the shard map says is consumable now (each shard's oldest
 * open epoch, topology/shard-map.ts) and follow it as it changes.
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
   * Start consuming `ref`; resolves once its consumer runs. With a grant,
   * Postgres's fencing token is already ours: the previous owner can no
   * longer commit, so its unfinished jobs can be handed back at once.
   */
  acquire(ref: PartitionRef, grant?: PartitionGrant): Promise<void>;
  /** Stop consuming `ref`: the open batch is committed, active jobs finish. */
  release(ref: PartitionRef): Promise<void>;
}

/** A partition ownership strategy. */
export interface PartitionOwnership {
  /** Begin owning; call `acquire` for each partition won. */
  start(handlers: OwnershipHandlers): Promise<void>;
  /** Release every owned partition (through `release`) and stop. Idempotent. */
  stop(): Promise<void>;
  /** Names of the partitions owned right now, sorted. */
  owned(): readonly string[];
}

/** Own every consumable partition, for as long as the writer runs (one writer only). */
export class AllPartitions implements PartitionOwnership {
  private readonly held = new Map<string, PartitionRef>();
  private handlers: OwnershipHandlers | undefined;
  private stopping: Promise<void> | undefined;
  /** Changes run one after another. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly topology: Topology) {}

  async start(handlers: OwnershipHandlers): Promise<void> {
    this.handlers = handlers;
    this.topology.onChange(() => {
      this.chain = this.chain.then(() => this.follow());
      return this.chain;
    });
    this.chain = this.chain.then(() => this.follow());
    await this.chain;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.chain.catch(() => {});
      const handlers = this.handlers;
      if (!handlers) return;
      // Release all at once: each drains its own batch; allSettled so one failure never strands the rest.
      const held = [...this.held.values()];
      this.held.clear();
      const results = await Promise.allSettled(held.map((r) => handlers.release(r)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.stopping;
  }

  owned(): readonly string[] {
    return [...this.held.keys()].sort();
  }

  /** Release what is no longer consumable, then acquire what became so. */
  private async follow(): Promise<void> {
    if (this.stopping) return;
    const want = new Map(this.topology.map.consumable().map((r) => [r.name, r]));
    for (const [name, ref] of this.held) {
      if (want.has(name)) continue;
      this.held.delete(name);
      await this.handlers!.release(ref);
    }
    for (const [name, ref] of want) {
      if (this.held.has(name)) continue;
      await this.handlers!.acquire(ref);
      this.held.set(name, ref);
    }
  }
}

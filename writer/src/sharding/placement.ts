import type { Logger } from '@sluice/shared/log/index.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { Refusal } from '@sluice/shared/sql/dead-letters.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { ShardMap } from '@sluice/shared/topology/shard-map.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { BatchJob } from '../flush/types.ts';

/**
 * Before a batch of a shard's partition is flushed, each request is checked
 * against the shard map (key-ranges.ts):
 *
 * - apply: the shard owns the request's rows (also a write queued here
 *   before its range switched away: it still commits here, and is logged);
 * - hold: the range is switching TO this shard: a write gateways sent here
 *   after the switch waits until the move is done (the source's last writes
 *   must reach this shard first); the whole batch waits, in order;
 * - misrouted: neither (a map this writer has not seen yet: it refreshes
 *   first; still so after that, the request is dead-lettered with SL002 —
 *   replayable through the gateway, which routes it by the current map).
 */

/** SQLSTATE of a request that reached a shard that does not hold its rows. */
export const MISROUTED_SQLSTATE = 'SL002';

type Verdict = { kind: 'apply' } | { kind: 'hold' } | { kind: 'misrouted'; owner: string };

/** The verdict on one request for `shard` under `map`. */
export function verdictOf(map: ShardMap, router: ShardRouter, shard: string, req: WriteRequest): Verdict {
  const op = req.ops.find((o) => router.sharded(o.t)) ?? req.ops[0];
  if (op === undefined) return { kind: 'apply' };
  const p = map.placement(op.t, router.valueOf(op) ?? null);
  if (p.owner === shard) return { kind: 'apply' };
  if (p.move !== undefined && p.move.to === shard && p.move.from === p.owner) return { kind: 'hold' };
  return { kind: 'misrouted', owner: p.owner };
}

const HOLD_POLL_MS = 25;
const HOLD_LOG_MS = 5000;

/** Checks batches of sharded deployments (see the module comment). */
export class PlacementGate {
  constructor(
    private readonly topology: Topology,
    private readonly router: ShardRouter,
    private readonly log: Logger,
  ) {}

  /**
   * Resolves once no request of `jobs` must wait, with the rejections of the
   * misrouted ones (by writeId). Unsharded deployments pay one check.
   */
  async check(partition: PartitionRef, jobs: readonly BatchJob[]): Promise<Map<string, Refusal>> {
    const rejected = new Map<string, Refusal>();
    if (Object.keys(this.topology.map.shardKeys).length === 0) return rejected;
    const started = Date.now();
    let refreshed = false;
    for (let logged = started; ; ) {
      const map = this.topology.map;
      let hold = false;
      let misrouted = false;
      for (const job of jobs) {
        for (const req of job.data.reqs) {
          const v = verdictOf(map, this.router, partition.shard, req);
          if (v.kind === 'hold') hold = true;
          else if (v.kind === 'misrouted') {
            misrouted = true;
            rejected.set(req.id, { sqlstate: MISROUTED_SQLSTATE, message: `its rows live on shard ${v.owner}, not ${partition.shard} (replay it: the gateway routes by the current shard map)`, table: req.ops[0]?.t });
          }
        }
      }
      if (!hold && (!misrouted || refreshed)) return rejected;
      rejected.clear();
      // A map this writer has not seen yet explains both: look again.
      await this.topology.refresh();
      refreshed = true;
      if (hold) {
        if (Date.now() - logged > HOLD_LOG_MS) {
          this.log.info({ partition: partition.name, waitedMs: Date.now() - started }, 'batch held: its range is still switching to this shard');
          logged = Date.now();
        }
        await new Promise((r) => setTimeout(r, HOLD_POLL_MS));
      }
    }
  }
}

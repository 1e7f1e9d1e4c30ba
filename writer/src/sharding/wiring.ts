import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';
import { viewRangeStatements } from '@sluice/shared/views/sql.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { InTransactionHook } from '../flush/hooks.ts';
import type { BatchJob } from '../flush/types.ts';
import type { WriterMetrics } from '../metrics/metrics.ts';
import type { PipelineDeps } from '../pipeline.ts';
import { moveLogHook } from './move-log-hook.ts';
import { Mover } from './mover.ts';
import { PlacementGate } from './placement.ts';
import { rangeSql, type RangeSql } from './range-sql.ts';

/** What a sharded writer adds to the flush: the move-log hook, the placement check, the mover. */
export interface ShardingParts {
  inTransaction: InTransactionHook[];
  pipeline: Pick<PipelineDeps, 'beforeFlush' | 'refreshMap'>;
  stop(): Promise<void>;
}

/** The sharding parts of a writer (nothing at all when the map has no sharded table). */
export function shardingOf(d: { topology: Topology; catalog: Catalog; log: Logger; metrics: WriterMetrics; logs: PartitionLogs; gateways(): Promise<Map<string, number>>; views?: readonly BoundView[] }): ShardingParts {
  const keys = d.topology.map.shardKeys;
  if (Object.keys(keys).length === 0) return { inTransaction: [], pipeline: {}, stop: async () => {} };
  const router = new ShardRouter(d.catalog, keys);
  const sqls = new Map<string, RangeSql>();
  for (const [table, column] of Object.entries(keys)) {
    const t = d.catalog.get(table);
    if (t !== undefined) sqls.set(table, rangeSql(t, column));
  }
  const gate = new PlacementGate(d.topology, router, d.log);
  // A view over a sharded table groups by its shard key (views/load.ts): its groups move with their rows.
  const views = (d.views ?? []).filter((v) => keys[v.table.name] !== undefined).map((v) => ({ name: v.name, ...viewRangeStatements(v, keys[v.table.name]!) }));
  const mover = new Mover({ topology: d.topology, tables: [...sqls.values()], logs: d.logs, router, gateways: d.gateways, log: d.log, pauseSeconds: d.metrics.movePauseSeconds, views });
  mover.start();
  /** While a range moves out of this shard, inserts of sharded tables return their keys (the move-log hook logs by key). */
  const askKeys = (shard: string, jobs: readonly BatchJob[]) => {
    if (!d.topology.map.moves.some((m) => m.from === shard)) return;
    for (const j of jobs) for (const r of j.data.reqs) if (r.ops.some((op) => router.sharded(op.t))) r.ret = true;
  };
  return {
    inTransaction: [moveLogHook({ router, catalog: d.catalog, sql: (t) => sqls.get(t)! })],
    pipeline: {
      async beforeFlush(partition, jobs) {
        const rejected = await gate.check(partition, jobs);
        askKeys(partition.shard, jobs);
        return rejected;
      },
      refreshMap: () => d.topology.refresh(),
    },
    stop: () => mover.stop(),
  };
}

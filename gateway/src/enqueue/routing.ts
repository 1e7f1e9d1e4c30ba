import { keyValuesOf } from '@sluice/shared/catalog/keys.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { AppError, ValidationError } from '@sluice/shared/errors/index.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { ShardMap } from '@sluice/shared/topology/shard-map.ts';

/**
 * 422 for a request whose rows live on different shards: a request is one
 * transaction, and one transaction spans one database. Nothing is written.
 */
export class CrossShardError extends AppError {
  override name = 'CrossShardError';
  constructor(shards: readonly string[]) {
    super(422, 'https://sluice.dev/problems/cross-shard', 'Rows on several shards', `this request's rows live on shards ${shards.join(', ')}: send one request per shard`, { shards });
  }
}

/** Where a request goes: its shard, and the partition of its first keyed row (null: any partition of the shard). */
export interface Route {
  shard: string;
  keyed: { table: string; key: readonly string[] } | null;
}

/**
 * Route a request's ops with the map in force: every op's shard (its table's
 * shard key, or the first shard for unsharded tables) must be the same.
 */
export function routeOps(map: ShardMap, router: ShardRouter, catalog: Catalog, ops: readonly WriteOp[]): Route {
  const shards = new Set<string>();
  let keyed: Route['keyed'] = null;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const value = router.valueOf(op);
    if (value === undefined) {
      const column = router.column(op.t)!;
      const how = op.op === 'delete' ? `give it beside the key (?${column}=eq.<value>, or "row": {"${column}": <value>} in a batch)` : op.op === 'update' ? `the patch must name it (?${column}=eq.<value> also does)` : 'every row must carry it';
      throw new ValidationError(`${op.t} is sharded by ${column}: ${how}`, [{ pointer: ops.length > 1 ? `/${i}/${column}` : `/${column}`, detail: 'the shard key is required' }]);
    }
    shards.add(map.shardOf(op.t, value));
    if (keyed === null) {
      const t = catalog.get(op.t);
      const key = t === undefined ? null : keyValuesOf(t, op);
      if (key !== null) keyed = { table: op.t, key };
    }
  }
  if (shards.size > 1) throw new CrossShardError([...shards].sort());
  return { shard: [...shards][0] ?? map.metaShard, keyed };
}

/** The partition of a route: the keyed row's, else the one keyless requests share now (`keyless`). */
export function partitionOfRoute(map: ShardMap, r: Route, keyless: (candidates: readonly PartitionRef[]) => PartitionRef): PartitionRef {
  return r.keyed === null ? keyless(map.routable(r.shard)) : map.partitionOf(r.shard, r.keyed.table, r.keyed.key);
}

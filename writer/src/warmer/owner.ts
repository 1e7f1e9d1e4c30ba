import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { ShardMap } from '@sluice/shared/topology/shard-map.ts';
import { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';
import { viewRouting } from '@sluice/shared/views/routing.ts';

/** The shard whose warmer keeps a key's cache entry, under the map in force (`undefined`: every shard keeps its own). */
export type WarmOwner = (map: ShardMap, table: string, key: readonly string[]) => string | undefined;

/**
 * Which shard's warmer keeps the cache entry of a key of a table or a read
 * model: the shard the map places it on, which is where gateways read it
 * (views routed as the gateway routes them: shared/src/views/routing.ts).
 * Undefined: a sharded table's key without its shard key, read from every
 * shard, so every shard's warmer keeps its own.
 */
export function warmOwner(catalog: Catalog, views: readonly BoundView[], shardKeys: Readonly<Record<string, string>>): WarmOwner {
  const r = viewRouting(views, shardKeys);
  const router = new ShardRouter(new Map([...catalog, ...r.infos]), { ...shardKeys, ...r.keys });
  return (map, table, key) => {
    const v = router.valueOfKey(table, key);
    return v === undefined ? undefined : map.placement(r.base.get(table) ?? table, v).owner;
  };
}

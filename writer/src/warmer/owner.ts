import type { ShardMap } from '@sluice/shared/topology/shard-map.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';

/**
 * Which shard's warmer keeps the cache entry of `key` in `table` (a table or
 * a read model): the shard the map places it on, which is where gateways read
 * it. Undefined: every shard's warmer keeps its own (a sharded table's key
 * without its shard key, read from every shard).
 *
 *   table, shard key in the key   the shard of that value;
 *   unsharded table               the first shard (the map's meta shard);
 *   view                          as its base table's rows: a view over a sharded table groups
 *                                 by the shard key (writer/src/views/load.ts refuses other
 *                                 groupings), so the group's value places it.
 */
export function warmOwner(map: ShardMap, router: ShardRouter, views: ReadonlyMap<string, BoundView>, table: string, key: readonly string[]): string | undefined {
  const view = views.get(table);
  if (view !== undefined) {
    const shardKey = map.shardKeys[view.table.name];
    const i = shardKey === undefined ? -1 : view.group.findIndex((g) => g.col.name === shardKey);
    return map.placement(view.table.name, i < 0 ? null : Number(key[i])).owner;
  }
  const v = router.valueOfKey(table, key);
  return v === undefined ? undefined : map.placement(table, v).owner;
}

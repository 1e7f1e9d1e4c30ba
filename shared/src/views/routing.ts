import type { TableInfo } from '../catalog/types.ts';
import type { BoundView } from './bind.ts';
import { viewTableInfo } from './definitions.ts';

/**
 * How a view's groups are placed on shards, for the gateway's view reads and
 * the warmer alike. A view over a sharded table must group by its shard key
 * (writer/src/views/load.ts), so each group lives on the shard that holds its
 * base rows: a view routes as a table whose shard key is that group column,
 * placed by its base table's ranges. A view over an unsharded table lives on
 * the first shard, as the table does.
 *
 *   infos  each view's table info (the shard-key group column NOT NULL, as the
 *          router wants it: it is in every base row, so in every group);
 *   keys   view → its shard-key group column, beside SLUICE_SHARD_KEYS for a ShardRouter;
 *   base   view → the base table whose ranges place it (sharded views only).
 */
export interface ViewRouting {
  infos: ReadonlyMap<string, TableInfo>;
  keys: Readonly<Record<string, string>>;
  base: ReadonlyMap<string, string>;
}

export function viewRouting(views: readonly BoundView[], shardKeys: Readonly<Record<string, string>>): ViewRouting {
  const base = new Map<string, string>();
  const keys: Record<string, string> = {};
  const infos = new Map<string, TableInfo>();
  for (const v of views) {
    const info = viewTableInfo(v);
    const key = shardKeys[v.table.name];
    const g = key === undefined ? undefined : v.group.find((x) => x.col.name === key);
    if (g === undefined) {
      infos.set(v.name, info);
      continue;
    }
    base.set(v.name, v.table.name);
    keys[v.name] = g.name;
    const cols = info.columns.map((c) => (c.name === g.name ? { ...c, notNull: true } : c));
    infos.set(v.name, { ...info, columns: cols, byName: new Map(cols.map((c) => [c.name, c])), primaryKey: info.primaryKey.map((c) => (c.name === g.name ? { ...c, notNull: true } : c)) });
  }
  return { infos, keys, base };
}

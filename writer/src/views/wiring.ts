import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { fenceKeys } from '@sluice/shared/read/cache/write-through.ts';
import type { CacheTtls } from '@sluice/shared/read/cache/store.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { viewTableInfo } from '@sluice/shared/views/definitions.ts';
import type { AfterCommitHook } from '../flush/hooks.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { ensureView, redefineIfChanged } from './build.ts';
import { loadViews } from './load.ts';
import { ViewMaintainer } from './maintainer.ts';

/**
 * The read models of a writer: definitions loaded (a refusal stops the
 * start), views whose file holds a new definition redefined (an older one is
 * left alone: build.ts redefineIfChanged), hooks ready at once, and each
 * view created and backfilled on every shard in the background (the hooks
 * log deltas until it is ready; see build.ts), so this writer consumes while
 * a large table is scanned.
 */
export async function viewsOf(dir: string, catalog: Catalog, topology: Topology, log: Logger): Promise<ViewMaintainer> {
  const views = await loadViews(dir, catalog, topology.metaDb, topology.map.shardKeys);
  // A view whose file holds a new definition is rebuilt from it (build.ts); its storage is replaced before this writer consumes anything.
  // One whose file holds an earlier definition is left as it is: not built here, and this writer's batches of its table retry.
  const older = new Set<string>();
  for (const v of views) {
    for (const shard of topology.shards) {
      if ((await redefineIfChanged(topology.db(shard.name), v, log)) === 'older') older.add(`${v.bound.name}\0${shard.name}`);
    }
  }
  const m = new ViewMaintainer(views);
  for (const v of views) {
    for (const shard of topology.shards) {
      if (older.has(`${v.bound.name}\0${shard.name}`)) continue;
      ensureView(topology.db(shard.name), v, log).catch((err: unknown) => log.error({ err, view: v.bound.name, shard: shard.name }, 'building the view failed; it stays in state building (deltas are logged) until a writer restarts'));
    }
  }
  log.info({ views: views.map((v) => v.bound.name) }, 'read models loaded');
  return m;
}

/**
 * After a commit, fence the view groups the batch changed at its LSN (before
 * the acks go out, like the tables' write-through): a cached group older than
 * the commit is never served to a reader carrying the write's token, and the
 * next read without one loads the group again.
 */
export function viewFences(m: ViewMaintainer, redis: Redis, prefixOf: (shard: string) => string, ttls: CacheTtls, log: Logger): AfterCommitHook {
  const catalog = new Map(m.views.map((v) => [v.bound.name, viewTableInfo(v.bound)]));
  return async function viewFences({ partition, result }) {
    const groups = m.takeTouched(partition.name);
    if (groups.length === 0) return;
    await fenceKeys(redis, catalog, prefixOf(partition.shard), groups, result.lsn, ttls).catch((err: unknown) => log.warn({ err, groups: groups.length }, 'fencing view groups in the cache failed; cached groups may be served until their soft TTL'));
  };
}

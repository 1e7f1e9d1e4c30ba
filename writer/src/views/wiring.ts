import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { ensureView } from './build.ts';
import { loadViews } from './load.ts';
import { ViewMaintainer } from './maintainer.ts';

/**
 * The read models of a writer: definitions loaded (a refusal stops the
 * start), hooks ready at once, and each view created and backfilled on every
 * shard in the background (the hooks log deltas until it is ready; see
 * build.ts), so this writer consumes while a large table is scanned.
 */
export async function viewsOf(dir: string, catalog: Catalog, topology: Topology, log: Logger): Promise<ViewMaintainer> {
  const views = await loadViews(dir, catalog, topology.metaDb, topology.map.shardKeys);
  const m = new ViewMaintainer(views);
  for (const v of views) {
    for (const shard of topology.shards) {
      ensureView(topology.db(shard.name), v, log).catch((err: unknown) => log.error({ err, view: v.bound.name, shard: shard.name }, 'building the view failed; it stays in state building (deltas are logged) until a writer restarts'));
    }
  }
  log.info({ views: views.map((v) => v.bound.name) }, 'read models loaded');
  return m;
}

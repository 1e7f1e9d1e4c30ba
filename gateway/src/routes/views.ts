import type { Hono, MiddlewareHandler } from 'hono';
import type { TableInfo } from '@sluice/shared/catalog/types.ts';
import { ShardedReads } from '@sluice/shared/read/sharded.ts';
import type { ReadService } from '@sluice/shared/read/service.ts';
import { ShardRouter } from '@sluice/shared/topology/router.ts';
import { viewRouting } from '@sluice/shared/views/routing.ts';
import { viewReadTable, type ReadTable } from '@sluice/shared/read/tables.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { ConflictError, NotFoundError, ViewBuildingError } from '@sluice/shared/errors/index.ts';
import { ViewNotReadyError } from '@sluice/shared/views/rebuild.ts';
import { type ViewRebuilds, ViewRebuildRunningError } from '@sluice/shared/views/rebuild-job.ts';
import { overallRebuild, viewStatusRows } from '@sluice/shared/views/status.ts';
import { readable, type ViewStates } from '@sluice/shared/views/states.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';
import { verifyView } from '@sluice/shared/views/verify.ts';
import type { GatewayEnv } from '../context.ts';
import { readRows } from './tables/list.ts';
import { readRow } from './tables/read.ts';

/**
 * Read models over HTTP, through the tables' own read path (cache with LSN
 * stamps, replicas, primary, stampede protection, `Sluice-Source`,
 * read-your-writes with `Sluice-Consistency-Token`): a view is read like a
 * table whose primary key is its group columns.
 *
 *   GET /v1/views/{name}/{key}              one group (composite keys joined by `,`); scope read:{name}
 *   GET /v1/views/{name}?{col}=eq.{v}&limit=&after=   a keyset page in key order (eq. on the key, or on the first group column)
 *   GET /v1/admin/views                     every view's state on every shard (scope admin, mounted with the admin routes)
 *   GET /v1/admin/views/{name}              one view's state on every shard, with its last rebuild (poll it after a rebuild)
 *   POST /v1/admin/views/{name}/verify      recompute and compare, every differing group (scope admin)
 *   POST /v1/admin/views/{name}/rebuild     recompute online and swap atomically, in the background: 202 and
 *                                           Location (shared/src/views/rebuild-job.ts); 409 while one runs
 *
 * A view in state `building` answers 503 problem+json with Retry-After (see viewReady).
 */

/**
 * The read path of views: the shards' own read services, routed by the
 * view's shard-key group column. A view over a sharded table must group by
 * its shard key (writer/src/views/load.ts), so each group lives on the shard
 * that holds its base rows, and follows them when a move changes the map: a
 * group read goes to the shard the map names for the group's shard-key value
 * (a list filtered on it, too); other lists ask every shard and merge.
 */
export function viewReadPath(topology: Topology, views: readonly BoundView[], services: ReadonlyMap<string, ReadService>): ShardedReads {
  const { infos, keys, base } = viewRouting(views, topology.map.shardKeys);
  const layout = {
    get shards() {
      return topology.shards;
    },
    // Read the map at each call: a move publishes new versions while the gateway runs.
    get map() {
      const m = topology.map;
      return { shardNames: m.shardNames, placement: (t: string, value: number | null) => m.placement(base.get(t) ?? t, value) };
    },
  };
  return new ShardedReads(layout, new ShardRouter(infos, keys), services);
}

/** The read path as the table routes use it, with the views in place of the tables. */
function overTables(reads: ShardedReads, tables: ReadonlyMap<string, ReadTable>): ShardedReads {
  return new Proxy(reads, { get: (target, p) => (p === 'tables' ? tables : (Reflect.get(target, p, target) as unknown)) }) as ShardedReads;
}

/** Mount `/v1/views/…` (after the auth middleware). `states`: each view's state (a view being built answers 503). */
export function viewRoutes(app: Hono<GatewayEnv>, d: { reads: ShardedReads; views: readonly TableInfo[]; states: ViewStates }): void {
  if (d.views.length === 0) return;
  const service = overTables(d.reads, new Map(d.views.map((v) => [v.name, viewReadTable(v)])));
  const ready = viewReady(d.states, new Set(d.views.map((v) => v.name)));
  app.get('/v1/views/:table/:key', ready, readRow({ service }));
  app.get('/v1/views/:table', ready, readRows({ service }));
}

/** Seconds a client is told to wait before asking a view that is being built again. */
const BUILDING_RETRY_AFTER_S = 2;

/**
 * A view in state `building` (first start, or rebuilt from a changed file)
 * answers 503 with Retry-After rather than a partial aggregate: its table is
 * being filled from the base table. Unknown names fall through to the read
 * path's 404; a view being rebuilt (same definition) stays readable.
 */
function viewReady(states: ViewStates, names: ReadonlySet<string>): MiddlewareHandler<GatewayEnv> {
  return async function viewReady(c, next) {
    const name = c.req.param('table');
    if (name !== undefined && names.has(name)) {
      const state = await states.stateOf(name);
      if (state !== undefined && !readable(state)) throw new ViewBuildingError(name, state, BUILDING_RETRY_AFTER_S);
    }
    await next();
  };
}

/**
 * GET /v1/admin/views[/{name}]: state, rows, last verify and last rebuild of
 * each view on each shard. POST /v1/admin/views/{name}/verify: recompute the
 * view from its base table on every shard and report each differing group
 * (`pnpm sluice views verify`). POST /v1/admin/views/{name}/rebuild: start an
 * online rebuild and answer 202 at once, Location the view's status, which
 * any gateway answers from the database (`pnpm sluice views rebuild` polls it).
 * `rebuilds`: the gateway's (its close ends them).
 */
export function adminViewRoutes(app: Hono<GatewayEnv>, topology: Topology, views: readonly BoundView[], rebuilds: ViewRebuilds): void {
  const byName = new Map(views.map((v) => [v.name, v]));
  const viewOf = (name: string): BoundView => {
    const v = byName.get(name);
    if (v === undefined) throw new NotFoundError(`no view named ${JSON.stringify(name.slice(0, 100))}`);
    return v;
  };
  const statusOf = async (name?: string) => {
    const out = [];
    for (const shard of topology.shards) for (const r of await viewStatusRows(topology.db(shard.name), name)) out.push({ shard: shard.name, ...r });
    return out;
  };
  app.post('/v1/admin/views/:name/verify', async (c) => {
    const v = viewOf(c.req.param('name'));
    const shards = [];
    for (const shard of topology.shards) {
      const diff = await verifyView(topology.db(shard.name), { bound: v });
      // Each differing group as the view stores it and as a fresh GROUP BY computes it (null: absent on that side).
      shards.push({ shard: shard.name, differing: diff.length, groups: diff.slice(0, 100).map((d) => ({ stored: d.stored === null ? null : (JSON.parse(d.stored) as unknown), fresh: d.fresh === null ? null : (JSON.parse(d.fresh) as unknown) })) });
    }
    return c.json({ view: v.name, differing: shards.reduce((n, s) => n + s.differing, 0), shards });
  });
  app.post('/v1/admin/views/:name/rebuild', async (c) => {
    const v = viewOf(c.req.param('name'));
    try {
      // Long for a large table (a full scan), while writes keep committing: the request does not wait for it.
      const { startedAt } = await rebuilds.start(v);
      const location = `/v1/admin/views/${encodeURIComponent(v.name)}`;
      c.header('Location', location);
      return c.json({ view: v.name, status: 'running', startedAt, location }, 202);
    } catch (err) {
      if (err instanceof ViewNotReadyError || err instanceof ViewRebuildRunningError) throw new ConflictError(err.message);
      throw err;
    }
  });
  app.get('/v1/admin/views/:name', async (c) => {
    const v = viewOf(c.req.param('name'));
    const shards = await statusOf(v.name);
    return c.json({ view: v.name, rebuild: overallRebuild(shards), shards });
  });
  app.get('/v1/admin/views', async (c) => c.json({ views: await statusOf() }));
}

// The cache warmer (`pnpm start:warmer`, one per deployment is enough; more
// are safe). Its logic is the read path's (shared/src/read/warmer.ts); this
// file only wires it. The only place in it that reads process.env.
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { loadConfigOrExit, metricsHostOf } from '@sluice/shared/config/index.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { onShutdownSignals } from '@sluice/shared/lifecycle/signals.ts';
import { createLogger, lifecycleLogger } from '@sluice/shared/log/index.ts';
import { startMetricsServer } from '@sluice/shared/metrics/server.ts';
import { shardReadSettings, warmerSettingsOf } from '@sluice/shared/read/settings.ts';
import { viewReadTable } from '@sluice/shared/read/tables.ts';
import { warmOwner } from './owner.ts';
import { loadViewDefinitions, viewTableInfo } from '@sluice/shared/views/definitions.ts';
import { ViewStates } from '@sluice/shared/views/states.ts';
import { Registry } from 'prom-client';
import { Warmer } from '@sluice/shared/read/warmer.ts';
import { redisFactoryOf, topologyOf } from '@sluice/shared/topology/from-config.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('warmer', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();

async function start(): Promise<void> {
  const redis = redisFactoryOf(config, log);
  releasers.add('redis connections', () => redis.close());
  const cache = await redis.connectReady('cache', 'sluice-warmer');
  const topology = topologyOf(config, log, 'sluice-warmer');
  releasers.add('topology', () => topology.close());
  // Started: with shards, each warmer refreshes only the rows its shard holds by the map in force.
  await topology.start();
  const catalog = await introspectCatalog(topology.metaDb, config.SLUICE_TABLES);
  // Read models (SLUICE_VIEWS_DIR, as the gateways and writers read it): their hot groups are warmed too.
  const views = config.SLUICE_VIEWS_DIR === undefined ? [] : await loadViewDefinitions(config.SLUICE_VIEWS_DIR, catalog);
  const ownerOf = warmOwner(catalog, views, topology.map.shardKeys);
  const viewTables = new Map(views.map((v) => [v.name, viewReadTable(viewTableInfo(v))]));
  const first = topology.shards[0]!.name;
  const registry = new Registry();
  const warmers = topology.shards.map((shard) => {
    const owns = (table: string, key: readonly string[]) => {
      const owner = ownerOf(topology.map, table, key); // the map in force at each call: moves change it
      return owner === undefined || owner === shard.name;
    };
    const viewsOfShard = views.length === 0 ? {} : { views: { tables: viewTables, states: new ViewStates(() => [topology.db(shard.name)], [...viewTables.keys()]) } };
    return new Warmer({ settings: shardReadSettings(config, shard, first), warmer: warmerSettingsOf(config), log: log.child({ shard: shard.name }), catalog, primary: topology.db(shard.name), cache, registry, shard: shard.name, owns, ...viewsOfShard });
  });
  releasers.add('warmers', () => Promise.all(warmers.map((w) => w.stop())).then(() => {}));
  await Promise.all(warmers.map((w) => w.start()));
  if (config.SLUICE_WARMER_METRICS_PORT > 0) {
    const metrics = await startMetricsServer(registry, config.SLUICE_WARMER_METRICS_PORT, metricsHostOf(config));
    releasers.add('metrics server', () => metrics.close());
  }
  lifecycleLogger(log).info({ tables: [...catalog.keys()], views: [...viewTables.keys()], shards: topology.shards.map((x) => ({ name: x.name, replicas: x.replicas.length })), intervalMs: config.SLUICE_WARMER_INTERVAL_MS, topKeys: config.SLUICE_WARMER_TOP_KEYS }, 'warmer started');
}

/** Every release, newest first (warmer → topology → Redis), logging failures. */
function releaseAll(): Promise<Error[]> {
  return releasers.releaseAll((name, err) => log.warn({ err, name }, 'release failed'));
}

onShutdownSignals(log, releaseAll);
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));

try {
  await start();
} catch (err) {
  log.fatal({ err }, `warmer cannot start: ${(err as Error).message}`);
  await releaseAll();
  process.exit(1);
}

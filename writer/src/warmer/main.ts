// The cache warmer (`pnpm start:warmer`, one per deployment is enough; more
// are safe). Its logic is the read path's (shared/src/read/warmer.ts); this
// file only wires it. The only place in it that reads process.env.
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { loadConfigOrExit } from '@sluice/shared/config/index.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { onShutdownSignals } from '@sluice/shared/lifecycle/signals.ts';
import { createLogger, lifecycleLogger } from '@sluice/shared/log/index.ts';
import { startMetricsServer } from '@sluice/shared/metrics/server.ts';
import { readSettingsOf, warmerSettingsOf } from '@sluice/shared/read/settings.ts';
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
  // Not started: the warmer reads rows from the shards' pools and never routes by the map.
  const catalog = await introspectCatalog(topology.metaDb, config.SLUICE_TABLES);
  const shard = topology.shards[0]!;
  const warmer = new Warmer({ settings: readSettingsOf(config, shard.replicas), warmer: warmerSettingsOf(config), log, catalog, primary: topology.db(shard.name), cache });
  releasers.add('warmer', () => warmer.stop());
  await warmer.start();
  if (config.SLUICE_WARMER_METRICS_PORT > 0) {
    const metrics = await startMetricsServer(warmer.registry, config.SLUICE_WARMER_METRICS_PORT, config.SLUICE_HOST);
    releasers.add('metrics server', () => metrics.close());
  }
  lifecycleLogger(log).info({ tables: [...catalog.keys()], replicas: config.SLUICE_REPLICA_URLS.length, intervalMs: config.SLUICE_WARMER_INTERVAL_MS, topKeys: config.SLUICE_WARMER_TOP_KEYS }, 'warmer started');
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

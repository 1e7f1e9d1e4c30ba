// The cache warmer (`pnpm start:warmer`, one per deployment is enough; more
// are safe). The only place in it that reads process.env.
import {
  Releasers,
  createLogger,
  createPool,
  connectRedis,
  introspectCatalog,
  lifecycleLogger,
  loadConfigOrExit,
  onShutdownSignals,
  type Config,
  type Redis,
} from '@sluice/shared';
import { startMetricsServer } from '@sluice/shared/metrics/server.ts';
import { Warmer } from '@sluice/shared/read/warmer.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('warmer', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();

async function start(cfg: Readonly<Config>): Promise<void> {
  const pool = createPool({ url: cfg.DATABASE_URL, max: cfg.SLUICE_PG_POOL_MAX, connectTimeoutMs: cfg.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: cfg.SLUICE_STATEMENT_TIMEOUT_MS, applicationName: 'sluice-warmer', log });
  releasers.add('postgres pool', () => pool.end());
  const { redis: cache, close } = await connectRedis(
    { url: cfg.SLUICE_CACHE_REDIS_URL ?? cfg.REDIS_URL, role: 'cache', timeoutMs: cfg.SLUICE_REDIS_TIMEOUT_MS, name: 'sluice-warmer' },
    log,
    cfg.SLUICE_REDIS_TIMEOUT_MS * 5,
  );
  releasers.add('redis cache', close);
  const catalog = await introspectCatalog(pool, cfg.SLUICE_TABLES);
  const warmer = new Warmer({ config: cfg, log, catalog, primary: pool, cache });
  releasers.add('warmer', () => warmer.stop());
  await warmer.start();
  if (cfg.SLUICE_WARMER_METRICS_PORT > 0) {
    const metrics = await startMetricsServer(warmer.registry, cfg.SLUICE_WARMER_METRICS_PORT, cfg.SLUICE_HOST);
    releasers.add('metrics server', () => metrics.close());
  }
  lifecycleLogger(log).info({ tables: [...catalog.keys()], replicas: cfg.SLUICE_REPLICA_URLS.length, intervalMs: cfg.SLUICE_WARMER_INTERVAL_MS, topKeys: cfg.SLUICE_WARMER_TOP_KEYS }, 'warmer started');
}

/** Every release, newest first (warmer → catalog users → Redis → pool), logging failures. */
function releaseAll(): Promise<Error[]> {
  return releasers.releaseAll((name, err) => log.warn({ err, name }, 'release failed'));
}

onShutdownSignals(log, releaseAll);
process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection'));

try {
  await start(config);
} catch (err) {
  log.fatal({ err }, `warmer cannot start: ${(err as Error).message}`);
  await releaseAll();
  process.exit(1);
}

// `pnpm start:gateway` (compiled: `node --conditions=sluice-dist gateway/dist/main.js`):
// one gateway process. The only place that reads process.env.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Releasers,
  UnsafeRedisError,
  checkRedisDurability,
  createLogger,
  createPool,
  connectRedis,
  introspectCatalog,
  lifecycleLogger,
  loadConfigOrExit,
  newNodeId,
  onShutdownSignals,
  type Config,
  type Logger,
  type Redis,
} from '@sluice/shared';
import { createApp, type Gateway } from './app.ts';
import { closeServer, listen } from './server.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('gateway', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();
/** Set once the app exists: a SIGTERM before that has nothing to drain. */
let running: Gateway | undefined;

/** A connection for `role`, closed on shutdown (LIFO with the rest). */
async function openRedis(cfg: Readonly<Config>, role: 'producer' | 'subscriber', nodeId: string): Promise<Redis> {
  const name = `sluice-gateway-${role}-${nodeId}`;
  const { redis, close } = await connectRedis({ url: cfg.REDIS_URL, role, timeoutMs: cfg.SLUICE_REDIS_TIMEOUT_MS, name }, log, cfg.SLUICE_REDIS_TIMEOUT_MS * 5);
  releasers.add(`redis ${role}`, close);
  return redis;
}

async function start(cfg: Readonly<Config>, logger: Logger): Promise<void> {
  const nodeId = newNodeId();
  const pool = createPool({ url: cfg.DATABASE_URL, max: cfg.SLUICE_PG_POOL_MAX, connectTimeoutMs: cfg.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: cfg.SLUICE_STATEMENT_TIMEOUT_MS, applicationName: `sluice-gateway-${nodeId}`, log: logger });
  releasers.add('postgres pool', () => pool.end());
  const producer = await openRedis(cfg, 'producer', nodeId);
  const { durability, warnings } = await checkRedisDurability(producer, cfg.SLUICE_ALLOW_VOLATILE_REDIS);
  // Loud on purpose: running without AOF (SLUICE_ALLOW_VOLATILE_REDIS) can lose acknowledged writes.
  for (const w of warnings) (durability.aofEnabled ? logger.warn : logger.error).call(logger, { durability }, `REDIS DURABILITY: ${w}`);
  const subscriber = await openRedis(cfg, 'subscriber', nodeId);
  const catalog = await introspectCatalog(pool, cfg.SLUICE_TABLES);
  if (catalog.size === 0) logger.warn('SLUICE_TABLES is empty: no table accepts writes');
  if (cfg.SLUICE_API_KEYS === undefined) logger.warn('SLUICE_API_KEYS is not set: authentication is OFF, every caller may write every exposed table');

  const gateway = createApp({ config: cfg, log: logger, pool, catalog, nodeId, producer, subscriber });
  running = gateway;
  releasers.add('gateway', () => gateway.close());
  await gateway.start();

  const { server, port } = await listen(gateway.app, { host: cfg.SLUICE_HOST, port: cfg.SLUICE_PORT, requestTimeoutMs: cfg.SLUICE_REQUEST_TIMEOUT_MS });
  // In-flight committed waits may take SLUICE_COMMIT_WAIT_MS; give them that and a little more.
  releasers.add('http server', () => closeServer(server, cfg.SLUICE_COMMIT_WAIT_MS + 5_000));
  lifecycleLogger(logger).info({ url: `http://${cfg.SLUICE_HOST}:${port}`, nodeId, tables: [...catalog.keys()], partitions: cfg.SLUICE_PARTITIONS }, 'gateway listening');
}

/** Run every release, newest first (server → app → connections → pool), logging failures. */
function releaseAll(): Promise<Error[]> {
  return releasers.releaseAll((name, err) => log.warn({ err, name }, 'release failed'));
}

/**
 * Drain for a load balancer: fail /livez and /readyz at once, keep serving
 * (in-flight and LB-retried requests) for SLUICE_DRAIN_GRACE_MS while the LB
 * notices, then close as before (in-flight requests finish).
 */
async function drainAndRelease(): Promise<Error[]> {
  if (running !== undefined) {
    running.drain();
    log.info({ graceMs: config.SLUICE_DRAIN_GRACE_MS }, 'draining: /livez and /readyz answer 503; still serving until the grace period ends');
    await sleep(config.SLUICE_DRAIN_GRACE_MS);
  }
  return releaseAll();
}

onShutdownSignals(log, drainAndRelease, config.SLUICE_DRAIN_GRACE_MS + config.SLUICE_COMMIT_WAIT_MS + 15_000);

try {
  await start(config, log);
} catch (err) {
  const reason = err instanceof UnsafeRedisError ? err.message : (err as Error).message;
  log.fatal({ err }, `gateway cannot start: ${reason}`);
  await releaseAll();
  process.exit(1);
}

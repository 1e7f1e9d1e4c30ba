// `pnpm start:gateway` (compiled: `node --conditions=sluice-dist gateway/dist/main.js`):
// one gateway process. The only place that reads process.env.
import { setTimeout as sleep } from 'node:timers/promises';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { loadViewDefinitions } from '@sluice/shared/views/definitions.ts';
import { gatewayHostOf, loadConfigOrExit } from '@sluice/shared/config/index.ts';
import { type Config } from '@sluice/shared/config/schema.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { onShutdownSignals, startSettled } from '@sluice/shared/lifecycle/signals.ts';
import { createLogger, lifecycleLogger, type Logger } from '@sluice/shared/log/index.ts';
import { legacyBacklog } from '@sluice/shared/partition-log/legacy.ts';
import { newNodeId } from '@sluice/shared/queue/ids.ts';
import { checkRedisDurability, UnsafeRedisError } from '@sluice/shared/redis/startup-check.ts';
import { redisFactoryOf, topologyOf } from '@sluice/shared/topology/from-config.ts';
import { createApp, type Gateway } from './app.ts';
import { closeServer, listen } from './server.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('gateway', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();
/** Set once the app exists: a SIGTERM before that has nothing to drain. */
let running: Gateway | undefined;
/** The start under way: a SIGTERM lets it finish (at most START_SETTLE_MS) before releasing. */
let starting: Promise<void> | undefined;
const START_SETTLE_MS = 10_000;

async function start(cfg: Readonly<Config>, logger: Logger): Promise<void> {
  const nodeId = newNodeId();
  // Connections are opened here, once, and closed on shutdown (LIFO with the rest).
  const redis = redisFactoryOf(cfg, logger);
  releasers.add('redis connections', () => redis.close());
  const producer = await redis.connectReady('producer', `sluice-gateway-producer-${nodeId}`);
  const { durability, warnings } = await checkRedisDurability(producer, cfg.SLUICE_ALLOW_VOLATILE_REDIS);
  // Loud on purpose: running without AOF (SLUICE_ALLOW_VOLATILE_REDIS) can lose acknowledged writes.
  for (const w of warnings) (durability.aofEnabled ? logger.warn : logger.error).call(logger, { durability }, `REDIS DURABILITY: ${w}`);
  const subscriber = await redis.connectReady('subscriber', `sluice-gateway-subscriber-${nodeId}`);
  const cache = redis.connect('cache', `sluice-gateway-cache-${nodeId}`);
  const topology = topologyOf(cfg, logger, `sluice-gateway-${nodeId}`);
  releasers.add('topology', () => topology.close());
  await topology.start({ beforeFirstMap: () => refuseLegacyQueues(producer, cfg.SLUICE_QUEUE_PREFIX) });
  const catalog = await introspectCatalog(topology.metaDb, cfg.SLUICE_TABLES);
  if (catalog.size === 0) logger.warn('SLUICE_TABLES is empty: no table accepts writes');
  if (cfg.SLUICE_API_KEYS === undefined) logger.warn('SLUICE_API_KEYS is not set: authentication is OFF, every caller may write every exposed table');

  const views = cfg.SLUICE_VIEWS_DIR === undefined ? [] : await loadViewDefinitions(cfg.SLUICE_VIEWS_DIR, catalog);
  const gateway = createApp({ config: cfg, log: logger, topology, catalog, nodeId, producer, subscriber, cache, views });
  running = gateway;
  releasers.add('gateway', () => gateway.close());
  await gateway.start();

  const { server, port } = await listen(gateway.app, { host: gatewayHostOf(cfg), port: cfg.SLUICE_PORT, requestTimeoutMs: cfg.SLUICE_REQUEST_TIMEOUT_MS });
  // In-flight committed waits may take SLUICE_COMMIT_WAIT_MS; give them that and a little more.
  releasers.add('http server', () => closeServer(server, cfg.SLUICE_COMMIT_WAIT_MS + 5_000));
  lifecycleLogger(logger).info({ url: `http://${gatewayHostOf(cfg)}:${port}`, nodeId, tables: [...catalog.keys()], map: topology.map.version, partitions: topology.map.routable(topology.map.metaShard).length }, 'gateway listening');
}

/** First start over a Redis that still holds jobs queued by a Sluice before named partitions: refuse (partition-log/legacy.ts). */
async function refuseLegacyQueues(producer: Parameters<typeof legacyBacklog>[0], prefix: string): Promise<void> {
  const jobs = await legacyBacklog(producer, prefix);
  if (jobs > 0) throw new Error(`${jobs} jobs are still queued under the old partition naming ({p0}…) of prefix ${prefix}: drain them with the previous Sluice version first`);
}

/** Run every release, newest first (server → app → topology → connections), logging failures. */
function releaseAll(): Promise<Error[]> {
  return releasers.releaseAll((name, err) => log.warn({ err, name }, 'release failed'));
}

/**
 * Drain for a load balancer: fail /livez and /readyz at once, keep serving
 * (in-flight and LB-retried requests) for SLUICE_DRAIN_GRACE_MS while the LB
 * notices, then close as before (in-flight requests finish).
 */
async function drainAndRelease(): Promise<Error[]> {
  // A start under way finishes first, so what it opens is released in order, not leaked. Bounded well
  // inside the drain's own bound: a start stuck on an unreachable server is released under anyway.
  await startSettled(starting, START_SETTLE_MS);
  if (running !== undefined) {
    running.drain();
    log.info({ graceMs: config.SLUICE_DRAIN_GRACE_MS }, 'draining: /livez and /readyz answer 503; still serving until the grace period ends');
    await sleep(config.SLUICE_DRAIN_GRACE_MS);
  }
  return releaseAll();
}

onShutdownSignals(log, drainAndRelease, config.SLUICE_DRAIN_GRACE_MS + config.SLUICE_COMMIT_WAIT_MS + 15_000);

try {
  starting = start(config, log);
  await starting;
} catch (err) {
  const reason = err instanceof UnsafeRedisError ? err.message : (err as Error).message;
  log.fatal({ err }, `gateway cannot start: ${reason}`);
  await releaseAll();
  process.exit(1);
}

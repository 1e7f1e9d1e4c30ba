/**
 * A gateway process with the read path mounted: `createApp` (the real
 * middleware chain and write routes) plus `createReadService` and
 * `registerReadRoutes` on the same app and metrics registry — exactly the
 * wiring gateway/src/main.ts is to get. Used by `pnpm bench read` until
 * main.ts serves reads itself. Prints "gateway listening" when ready.
 */
import {
  Releasers,
  createLogger,
  createPool,
  createRedis,
  introspectCatalog,
  loadConfigOrExit,
  newNodeId,
  onShutdownSignals,
  type Redis,
} from '../../shared/src/index.ts';
import { createApp } from '../../gateway/src/app.ts';
import { createReadService, registerReadRoutes } from '../../gateway/src/read/index.ts';
import { closeServer, listen } from '../../gateway/src/server.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('gateway', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();

async function ready(redis: Redis): Promise<Redis> {
  if (redis.status !== 'ready') await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  return redis;
}

async function start(): Promise<void> {
  const nodeId = newNodeId();
  const pool = createPool({ url: config.DATABASE_URL, max: config.SLUICE_PG_POOL_MAX, connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: config.SLUICE_STATEMENT_TIMEOUT_MS, applicationName: `sluice-gateway-${nodeId}`, log });
  releasers.add('pool', () => pool.end());
  const producer = await ready(createRedis({ url: config.REDIS_URL, role: 'producer', timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, name: 'bench-producer' }));
  const subscriber = await ready(createRedis({ url: config.REDIS_URL, role: 'subscriber', timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, name: 'bench-subscriber' }));
  releasers.add('redis', () => Promise.all([producer.quit(), subscriber.quit()]));
  const catalog = await introspectCatalog(pool, config.SLUICE_TABLES);
  const gateway = createApp({ config, log, pool, catalog, nodeId, producer, subscriber });
  const reads = createReadService({ config, log, catalog, primary: pool, registry: gateway.metrics.registry, nodeId });
  registerReadRoutes(gateway.app, { service: reads });
  releasers.add('gateway', () => gateway.close());
  releasers.add('reads', () => reads.stop());
  await Promise.all([gateway.start(), reads.start()]);
  const { server, port } = await listen(gateway.app, { host: '127.0.0.1', port: config.SLUICE_PORT, requestTimeoutMs: config.SLUICE_REQUEST_TIMEOUT_MS });
  releasers.add('http server', () => closeServer(server, 2000));
  process.stdout.write(`gateway listening on ${port}\n`);
}

onShutdownSignals(log, () => releasers.releaseAll());
await start();

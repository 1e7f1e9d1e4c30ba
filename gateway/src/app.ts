import { Hono } from 'hono';
import { confirmReplicasOf } from '@sluice/shared/config/confirm.ts';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';
import { viewTableInfo } from '@sluice/shared/views/definitions.ts';
import { ViewStates } from '@sluice/shared/views/states.ts';
import { compileValidator, type TableValidator } from '@sluice/shared/catalog/validate.ts';
import type { Config } from '@sluice/shared/config/schema.ts';
import { hmacSecretOf } from '@sluice/shared/config/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { ackChannel } from '@sluice/shared/queue/contract.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { MapChanges } from '@sluice/shared/topology/changes.ts';
import { GatewayBeat } from '@sluice/shared/topology/fleet.ts';
import { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { AckWaiters } from './acks/waiters.ts';
import type { GatewayEnv } from './context.ts';
import { BacklogMonitor } from './enqueue/backlog.ts';
import { Coalescer } from './enqueue/coalescer.ts';
import { MapFollower } from './enqueue/map-follower.ts';
import { IdempotencyStore } from './enqueue/idempotency.ts';
import { WriteService } from './enqueue/service.ts';
import { GatewayMetrics } from './metrics/index.ts';
import { httpMetrics } from './metrics/http.ts';
import { apiKeyAuth } from './middleware/auth/index.ts';
import { ByteBudget, jsonBody } from './middleware/body/index.ts';
import { problemErrors, problemNotFound } from './middleware/errors/index.ts';
import { requestId } from './middleware/request-id/index.ts';
import { adminRoutes } from './routes/admin/index.ts';
import { flagRoutes } from './routes/flags.ts';
import { flagVariant } from './middleware/flag-variant/index.ts';
import { FlagFollower } from '@sluice/shared/flags/follower.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { openApiDocument } from './openapi/document.ts';
import { batchRoutes } from './routes/batch.ts';
import { healthRoutes } from './routes/health.ts';
import { metaRoutes } from './routes/meta.ts';
import { tableRoutes } from './routes/tables/index.ts';
import { adminViewRoutes, viewReadPath, viewRoutes } from './routes/views.ts';
import { ViewRebuilds } from '@sluice/shared/views/rebuild-job.ts';
import { writeStatusRoutes } from './routes/writes.ts';
import { createReadService, type ReadService } from '@sluice/shared/read/service.ts';
import { shardReadSettings } from '@sluice/shared/read/settings.ts';
import { ShardedReads } from '@sluice/shared/read/sharded.ts';
import { Liveness } from './status/liveness.ts';
import { ReadinessCheck, publicKnobs } from './status/readiness.ts';

/** Everything the gateway app needs; connections are the caller's to open and close. */
export interface GatewayDeps {
  config: Readonly<Config>;
  /** Read models (SLUICE_VIEWS_DIR), parsed and bound (`loadViewDefinitions`). */
  views?: readonly BoundView[];
  log: Logger;
  /** Shards (primary pools) and the shard map, started: routing, status lookups, Idempotency-Key authority, readiness. */
  topology: Topology;
  /** Introspected allowlisted tables (`introspectCatalog`). */
  catalog: Catalog;
  /** Random per process start (`newNodeId`): names jobs and this node's ack channel. */
  nodeId: string;
  /** `createRedis({ role: 'producer' })`: queues, Idempotency-Keys, backlog polls. */
  producer: Redis;
  /** `createRedis({ role: 'subscriber' })`: this node's ack channel. */
  subscriber: Redis;
  /** Node process metrics in /metrics (default true; tests creating many apps may turn them off). */
  processMetrics?: boolean;
  /** A `cache`-role connection for reads. */
  cache: Redis;
}

/** A built gateway: the Hono app plus the parts that run beside it. */
export interface Gateway {
  app: Hono<GatewayEnv>;
  metrics: GatewayMetrics;
  /** The partitions' logs (queues). */
  logs: PartitionLogs;
  /** Subscribe to the ack channel, join the fleet registry, start the backlog poll; call before serving. */
  start(): Promise<void>;
  /** SIGTERM's first step: /livez and /readyz answer 503 "draining" from now on; requests are still served. */
  drain(): void;
  /** Send what the coalescer holds, stop the poll, release waiters, close the queues. Idempotent. */
  close(): Promise<void>;
}

const BACKLOG_POLL_MS = 250;
const READY_CACHE_MS = 1000;

interface WritePath {
  logs: PartitionLogs;
  follower: MapFollower;
  backlog: BacklogMonitor;
  coalescer: Coalescer;
  acks: AckWaiters;
  service: WriteService;
}

/** The queues and everything between a validated request and Redis. */
function buildWritePath(deps: GatewayDeps, metrics: GatewayMetrics): WritePath {
  const { config, log, nodeId } = deps;
  const prefix = config.SLUICE_QUEUE_PREFIX;
  const topology = deps.topology;
  // SLUICE_REDIS_WAIT_REPLICAS: a job counts as queued (202) only once that many Redis replicas have it.
  const logs = new PartitionLogs(deps.producer, prefix, { replicas: config.SLUICE_REDIS_WAIT_REPLICAS, timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS });
  const backlog = new BacklogMonitor(logs, () => topology.map.live(), BACKLOG_POLL_MS, () => deps.producer.status === 'ready', log);
  const coalescer = new Coalescer(logs, { nodeId, lingerMs: config.SLUICE_ENQUEUE_LINGER_MS, adaptiveLinger: config.SLUICE_ADAPTIVE_LINGER, maxRequests: config.SLUICE_ENQUEUE_MAX_REQUESTS, secret: hmacSecretOf(config), payloadVersion: config.SLUICE_PAYLOAD_VERSION, build: config.SLUICE_BUILD_ID, metrics, log });
  const follower = new MapFollower(topology, coalescer, new GatewayBeat(deps.producer, prefix, nodeId, config.SLUICE_LEASE_TTL_MS), config.SLUICE_LEASE_RENEW_MS, log);
  const acks = new AckWaiters(deps.subscriber, ackChannel(prefix, nodeId), config.SLUICE_COMMIT_WAIT_MS, log);
  const idempotency = new IdempotencyStore(deps.producer, topology.metaDb, {
    prefix,
    ttlS: config.SLUICE_IDEMPOTENCY_TTL_S,
    // Long enough to cover an enqueue and a committed wait; a crashed claim frees itself after it.
    pendingTtlMs: Math.max(30_000, config.SLUICE_COMMIT_WAIT_MS * 2),
    log,
  });
  const service = new WriteService({
    nodeId, maxQueueDepth: config.SLUICE_MAX_QUEUE_DEPTH, maxPending: config.SLUICE_MAX_PENDING_REQUESTS,
    limits: { writes: config.SLUICE_MAX_QUEUE_WRITES, bytes: config.SLUICE_MAX_QUEUE_BYTES, partitionWrites: config.SLUICE_MAX_PARTITION_WRITES, partitionBytes: config.SLUICE_MAX_PARTITION_BYTES },
    producer: deps.producer, status: { topology, logs }, registered: () => follower.registered, poisonWrites: new FailPoints(config.SLUICE_FAILPOINTS).armed('gateway-poison-writes'), router: new ShardRouter(deps.catalog, topology.map.shardKeys), catalog: deps.catalog, coalescer, backlog, acks, idempotency, metrics, log,
    confirmReplicas: (shard) => confirmReplicasOf(config, topology.shards.find((sh) => sh.name === shard)?.replicas ?? []),
  });
  metrics.observe({ pending: () => service.inFlight, unsent: () => coalescer.pending, waiters: () => acks.size, backlog: () => backlog.depth, backlogWrites: () => backlog.writes, backlogBytes: () => backlog.bytes, backlogAgeMs: () => backlog.ageMs() });
  return { logs, follower, backlog, coalescer, acks, service };
}

/** Middleware, routes and error mapping. */
function buildHttp(deps: GatewayDeps, metrics: GatewayMetrics, w: WritePath, reads: ShardedReads, viewReads: ShardedReads, liveness: Liveness, flags: FlagFollower, rebuilds: ViewRebuilds): Hono<GatewayEnv> {
  const { config } = deps;
  const validators = new Map<string, TableValidator>([...deps.catalog].map(([name, t]) => [name, compileValidator(t)]));
  // RegExpRouter matches a request with one precompiled regex; Hono's default
  // falls back to its trie router when a route pattern defeats that (a literal
  // segment beside a parameter), which cost ~5 % of a cache hit's CPU. Named
  // here so such a route fails every test instead of slowing every request.
  const app = new Hono<GatewayEnv>({ router: new RegExpRouter() });
  app.use(requestId({ prefix: deps.nodeId }));
  app.use(httpMetrics(metrics));
  if (config.SLUICE_ROLLOUT_FLAG !== undefined) {
    app.use(flagVariant({ flag: config.SLUICE_ROLLOUT_FLAG, flags, registry: metrics.registry, failOn: new FailPoints(config.SLUICE_FAILPOINTS).armed('flag-on-fails') }));
  }
  app.use('/v1/*', apiKeyAuth({ keys: config.SLUICE_API_KEYS, secret: hmacSecretOf(config) }));
  // /metrics and /readyz's details (settings, dependency errors, dead letters) are for operators: the admin scope.
  app.use('/metrics', apiKeyAuth({ keys: config.SLUICE_API_KEYS, secret: hmacSecretOf(config) }));
  app.use('/readyz', apiKeyAuth({ keys: config.SLUICE_API_KEYS, secret: hmacSecretOf(config), optional: true }));
  const body = jsonBody({ maxBytes: config.SLUICE_MAX_BODY_BYTES, maxDepth: config.SLUICE_MAX_JSON_DEPTH, budget: new ByteBudget(config.SLUICE_MAX_PENDING_BYTES) });
  const writes = { service: w.service, validators, maxRows: config.SLUICE_MAX_ROWS_PER_REQUEST, body, shardKeys: deps.topology.map.shardKeys };
  tableRoutes(app, { writes, reads: { service: reads } });
  const viewStates = new ViewStates(() => deps.topology.shards.map((s) => deps.topology.db(s.name)), (deps.views ?? []).map((v) => v.name));
  viewRoutes(app, { reads: viewReads, views: (deps.views ?? []).map(viewTableInfo), states: viewStates });
  batchRoutes(app, writes);
  writeStatusRoutes(app, { topology: deps.topology, logs: w.logs, retentionS: config.SLUICE_DEDUPE_RETENTION_S, secret: hmacSecretOf(config), authOn: config.SLUICE_API_KEYS !== undefined });
  flagRoutes(app, flags, body);
  const partitions = { topology: deps.topology, logs: w.logs, redis: deps.producer, prefix: config.SLUICE_QUEUE_PREFIX, lease: { ttlMs: config.SLUICE_LEASE_TTL_MS, renewMs: config.SLUICE_LEASE_RENEW_MS } };
  const shards = { topology: deps.topology, logs: w.logs, replicas: () => reads.status(), cacheTtlMs: config.SLUICE_CACHE_TTL_S * 1000 };
  const status = {
    replicas: () => reads.status(),
    rates: () => ({ writesPerSec: metrics.writeRate.perSecond(), readsPerSec: metrics.readRate.perSecond() }),
    limits: { jobs: config.SLUICE_MAX_QUEUE_DEPTH, writes: config.SLUICE_MAX_QUEUE_WRITES, bytes: config.SLUICE_MAX_QUEUE_BYTES },
  };
  const admin = adminRoutes(app, { partitions, shards, flags: { db: deps.topology.metaDb, flags }, body, service: w.service, validators, registry: metrics.registry, log: deps.log, status });
  // After adminRoutes: its `/v1/admin/*` scope check runs first.
  if ((deps.views ?? []).length > 0) adminViewRoutes(app, deps.topology, deps.views ?? [], rebuilds);
  const readiness = new ReadinessCheck({ producer: deps.producer, db: deps.topology.metaDb, backlog: w.backlog, maxQueueDepth: config.SLUICE_MAX_QUEUE_DEPTH, timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, cacheMs: READY_CACHE_MS, details: async () => ({ deadLetters: await admin.deadLetters(), replicas: reads.status(), backlog: { jobs: w.backlog.depth, writes: w.backlog.writes, bytes: w.backlog.bytes } }) });
  healthRoutes(app, { readiness, liveness, nodeId: deps.nodeId, knobs: publicKnobs(config) });
  // Built at the first request: the columns lists may filter on are known once the read path started.
  const indexed = (table: string) => [...(reads.tables.get(table)?.filters.keys() ?? [])];
  metaRoutes(app, { metrics, openapi: () => openApiDocument({ catalog: deps.catalog, indexed, version: '0.1.0', views: (deps.views ?? []).map(viewTableInfo) }) });
  app.onError(problemErrors(deps.log));
  app.notFound(problemNotFound());
  return app;
}

/** One read service per shard (its cache namespace, replicas and primary), behind the shard map; and the same services routing views. */
function buildReadPath(deps: GatewayDeps, metrics: GatewayMetrics): { reads: ShardedReads; viewReads: ShardedReads } {
  const first = deps.topology.shards[0]!.name;
  const services = new Map<string, ReadService>();
  for (const shard of deps.topology.shards) {
    const settings = shardReadSettings(deps.config, shard, first);
    services.set(shard.name, createReadService({ settings, log: deps.log.child({ shard: shard.name }), catalog: deps.catalog, primary: deps.topology.db(shard.name), cache: deps.cache, registry: metrics.registry, nodeId: deps.nodeId }));
  }
  return {
    reads: new ShardedReads(deps.topology, new ShardRouter(deps.catalog, deps.topology.map.shardKeys), services),
    viewReads: viewReadPath(deps.topology, deps.views ?? [], services),
  };
}

/** Build the gateway. Constructible in tests with real connections, for `app.request()`. */
export function createApp(deps: GatewayDeps): Gateway {
  const metrics = new GatewayMetrics(deps.config, deps.processMetrics ?? true);
  const w = buildWritePath(deps, metrics);
  const { reads, viewReads } = buildReadPath(deps, metrics);
  const liveness = new Liveness(deps.producer);
  const flags = new FlagFollower({ db: deps.topology.metaDb, pub: deps.producer, sub: deps.subscriber, prefix: deps.config.SLUICE_QUEUE_PREFIX, reconcileMs: deps.config.SLUICE_FLAGS_RECONCILE_MS, log: deps.log.child({ part: 'flags' }) });
  // View rebuilds asked through the admin API run here, in the background (shared/src/views/rebuild-job.ts).
  const rebuilds = new ViewRebuilds(() => deps.topology.shards.map((s) => ({ name: s.name, pool: deps.topology.db(s.name) })), deps.log.child({ part: 'views' }));
  const app = buildHttp(deps, metrics, w, reads, viewReads, liveness, flags, rebuilds);
  const warn = (what: string) => (err: unknown) => deps.log.warn({ err }, `${what} failed during close`);
  let closing: Promise<void> | undefined;
  return {
    app,
    metrics,
    logs: w.logs,
    async start() {
      // Subscribed before the first request can ask for a committed ack.
      await w.acks.start();
      // New maps arrive over pub/sub at once (a move's cutover waits for every gateway to route by it).
      await deps.topology.followChanges(new MapChanges(deps.producer, deps.subscriber, deps.config.SLUICE_QUEUE_PREFIX));
      await w.follower.start();
      // Before serving: the first evaluation already sees the stored set.
      await flags.start();
      await w.backlog.start();
      await reads.start();
    },
    drain: () => {
      liveness.drain();
      // SSE clients reconnect through the load balancer to a gateway that stays.
      flags.endListeners();
    },
    close() {
      closing ??= (async () => {
        w.backlog.stop();
        await flags.stop().catch(warn('flag follower stop'));
        // Every step runs even if one fails (BullMQ's close() rule).
        await w.coalescer.flush().catch(warn('coalescer flush'));
        await w.follower.stop().catch(warn('fleet registry leave'));
        await w.acks.stop().catch(warn('ack subscriber stop'));
        await w.logs.close();
        await reads.stop().catch(warn('read service stop'));
        // Before the topology closes its pools (which waits for checked-out connections): a running view rebuild ends as `interrupted`.
        await rebuilds.close().catch(warn('view rebuilds stop'));
      })();
      return closing;
    },
  };
}

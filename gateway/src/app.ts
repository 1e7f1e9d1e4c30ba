import { Hono } from 'hono';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import { Queue, type JobsOptions } from 'bullmq';
import {
  ackChannel,
  compileValidator,
  queueName,
  type Catalog,
  type Config,
  type Logger,
  type Pool,
  type Redis,
  type TableValidator,
  type WriteJob,
} from '@sluice/shared';
import { AckWaiters } from './acks/waiters.ts';
import type { GatewayEnv } from './context.ts';
import { BacklogMonitor } from './enqueue/backlog.ts';
import { Coalescer } from './enqueue/coalescer.ts';
import { IdempotencyStore } from './enqueue/idempotency.ts';
import { WriteService } from './enqueue/service.ts';
import { GatewayMetrics } from './metrics/index.ts';
import { httpMetrics } from './metrics/http.ts';
import { apiKeyAuth } from './middleware/auth/index.ts';
import { jsonBody } from './middleware/body/index.ts';
import { problemErrors, problemNotFound } from './middleware/errors/index.ts';
import { requestId } from './middleware/request-id/index.ts';
import { adminRoutes } from './routes/admin/index.ts';
import { withAdminPaths } from './routes/admin/openapi.ts';
import { openApiDocument } from './openapi/document.ts';
import { batchRoutes } from './routes/batch.ts';
import { healthRoutes } from './routes/health.ts';
import { metaRoutes } from './routes/meta.ts';
import { tableRoutes } from './routes/tables.ts';
import { writeStatusRoutes } from './routes/writes.ts';
import { createReadService, registerReadRoutes, type ReadService } from './read/index.ts';
import { Liveness } from './status/liveness.ts';
import { ReadinessCheck, publicKnobs } from './status/readiness.ts';

/** Everything the gateway app needs; connections are the caller's to open and close. */
export interface GatewayDeps {
  config: Readonly<Config>;
  log: Logger;
  /** Postgres pool (shared/src/db `createPool`): status lookups, Idempotency-Key authority, readiness. */
  pool: Pool;
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
  /** `createRedis({ role: 'cache' })` for reads; default: the read service opens (and closes) its own. */
  cache?: Redis;
}

/** A built gateway: the Hono app plus the parts that run beside it. */
export interface Gateway {
  app: Hono<GatewayEnv>;
  metrics: GatewayMetrics;
  /** One BullMQ queue per partition, index = partition. */
  queues: readonly Queue<WriteJob>[];
  /** Subscribe to the ack channel and start the backlog poll; call before serving. */
  start(): Promise<void>;
  /** SIGTERM's first step: /livez and /readyz answer 503 "draining" from now on; requests are still served. */
  drain(): void;
  /** Send what the coalescer holds, stop the poll, release waiters, close the queues. Idempotent. */
  close(): Promise<void>;
}

// One attempt: the writer already retries transient failures itself, in
// order. A BullMQ retry would come back after newer jobs and break per-key
// order, so a job the writer gives up on stays in the failed set for an operator.
const JOB_OPTIONS: JobsOptions = { removeOnComplete: true, attempts: 1 };
const BACKLOG_POLL_MS = 250;
const READY_CACHE_MS = 1000;

interface WritePath {
  queues: Queue<WriteJob>[];
  backlog: BacklogMonitor;
  coalescer: Coalescer;
  acks: AckWaiters;
  service: WriteService;
}

/** The queues and everything between a validated request and Redis. */
function buildWritePath(deps: GatewayDeps, metrics: GatewayMetrics): WritePath {
  const { config, log, nodeId } = deps;
  const prefix = config.SLUICE_QUEUE_PREFIX;
  const queues = Array.from({ length: config.SLUICE_PARTITIONS }, (_, p) => {
    const q = new Queue<WriteJob>(queueName(p), { connection: deps.producer, prefix });
    // The shared connection's errors surface here too; its owner logs them.
    q.on('error', () => {});
    return q;
  });
  const backlog = new BacklogMonitor(queues, BACKLOG_POLL_MS, () => deps.producer.status === 'ready', log);
  const coalescer = new Coalescer(queues, { nodeId, lingerMs: config.SLUICE_ENQUEUE_LINGER_MS, maxRequests: config.SLUICE_ENQUEUE_MAX_REQUESTS, jobOptions: JOB_OPTIONS, metrics, log });
  const acks = new AckWaiters(deps.subscriber, ackChannel(prefix, nodeId), config.SLUICE_COMMIT_WAIT_MS, log);
  const idempotency = new IdempotencyStore(deps.producer, deps.pool, {
    prefix,
    ttlS: config.SLUICE_IDEMPOTENCY_TTL_S,
    // Long enough to cover an enqueue and a committed wait; a crashed claim frees itself after it.
    pendingTtlMs: Math.max(30_000, config.SLUICE_COMMIT_WAIT_MS * 2),
    log,
  });
  const service = new WriteService({
    nodeId, partitions: config.SLUICE_PARTITIONS, maxQueueDepth: config.SLUICE_MAX_QUEUE_DEPTH, maxPending: config.SLUICE_MAX_PENDING_REQUESTS,
    producer: deps.producer, db: deps.pool, queues, coalescer, backlog, acks, idempotency, metrics, log,
  });
  metrics.observe({ pending: () => service.inFlight, unsent: () => coalescer.pending, waiters: () => acks.size, backlog: () => backlog.depth, backlogAgeMs: () => backlog.ageMs() });
  return { queues, backlog, coalescer, acks, service };
}

/** Middleware, routes and error mapping. */
function buildHttp(deps: GatewayDeps, metrics: GatewayMetrics, w: WritePath, reads: ReadService, liveness: Liveness): Hono<GatewayEnv> {
  const { config } = deps;
  const validators = new Map<string, TableValidator>([...deps.catalog].map(([name, t]) => [name, compileValidator(t)]));
  // RegExpRouter matches a request with one precompiled regex; Hono's default
  // falls back to its trie router when a route pattern defeats that (a literal
  // segment beside a parameter), which cost ~5 % of a cache hit's CPU. Named
  // here so such a route fails every test instead of slowing every request.
  const app = new Hono<GatewayEnv>({ router: new RegExpRouter() });
  app.use(requestId({ prefix: deps.nodeId }));
  app.use(httpMetrics(metrics));
  app.use('/v1/*', apiKeyAuth({ keys: config.SLUICE_API_KEYS }));
  const body = jsonBody({ maxBytes: config.SLUICE_MAX_BODY_BYTES, maxDepth: config.SLUICE_MAX_JSON_DEPTH });
  const writes = { service: w.service, validators, maxRows: config.SLUICE_MAX_ROWS_PER_REQUEST, body };
  tableRoutes(app, writes);
  batchRoutes(app, writes);
  writeStatusRoutes(app, { db: deps.pool, queues: w.queues });
  registerReadRoutes(app, { service: reads, body });
  const admin = adminRoutes(app, { config, db: deps.pool, redis: deps.producer, queues: w.queues, service: w.service, validators, registry: metrics.registry, log: deps.log });
  const readiness = new ReadinessCheck({ producer: deps.producer, db: deps.pool, backlog: w.backlog, maxQueueDepth: config.SLUICE_MAX_QUEUE_DEPTH, timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, cacheMs: READY_CACHE_MS, details: async () => ({ deadLetters: await admin.deadLetters(), replicas: reads.status() }) });
  healthRoutes(app, { readiness, liveness, nodeId: deps.nodeId, knobs: publicKnobs(config) });
  metaRoutes(app, { metrics, openapi: withAdminPaths(openApiDocument(deps.catalog, '0.1.0')) });
  app.onError(problemErrors(deps.log));
  app.notFound(problemNotFound());
  return app;
}

/** Build the gateway. Constructible in tests with real connections, for `app.request()`. */
export function createApp(deps: GatewayDeps): Gateway {
  const metrics = new GatewayMetrics(deps.config, deps.processMetrics ?? true);
  const w = buildWritePath(deps, metrics);
  const reads = createReadService({ config: deps.config, log: deps.log, catalog: deps.catalog, primary: deps.pool, registry: metrics.registry, nodeId: deps.nodeId, ...(deps.cache ? { cache: deps.cache } : {}) });
  const liveness = new Liveness(deps.producer);
  const app = buildHttp(deps, metrics, w, reads, liveness);
  const warn = (what: string) => (err: unknown) => deps.log.warn({ err }, `${what} failed during close`);
  let closing: Promise<void> | undefined;
  return {
    app,
    metrics,
    queues: w.queues,
    async start() {
      // Subscribed before the first request can ask for a committed ack.
      await w.acks.start();
      await w.backlog.start();
      await reads.start();
    },
    drain: () => liveness.drain(),
    close() {
      closing ??= (async () => {
        w.backlog.stop();
        // Every step runs even if one fails (BullMQ's close() rule).
        await w.coalescer.flush().catch(warn('coalescer flush'));
        await w.acks.stop().catch(warn('ack subscriber stop'));
        await Promise.allSettled(w.queues.map((q) => q.close()));
        await reads.stop().catch(warn('read service stop'));
      })();
      return closing;
    },
  };
}

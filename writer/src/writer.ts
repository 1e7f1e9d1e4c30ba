import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Config } from '@sluice/shared/config/schema.ts';
import { metricsHostOf } from '@sluice/shared/config/index.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { createLogger, lifecycleLogger, type Logger } from '@sluice/shared/log/index.ts';
import { startMetricsServer } from '@sluice/shared/metrics/server.ts';
import { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { cacheTtlsOf } from '@sluice/shared/read/cache/store.ts';
import { cachePrefixOf } from '@sluice/shared/read/cache/keys.ts';
import { forgetCachedRows } from '@sluice/shared/read/cache/forget.ts';
import type { RedisFactory } from '@sluice/shared/redis/factory.ts';
import { closeDrainedEpochs } from '@sluice/shared/topology/epochs.ts';
import { liveGateways } from '@sluice/shared/topology/fleet.ts';
import { redisFactoryOf, topologyOf } from '@sluice/shared/topology/from-config.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { AckPublisher } from './acks/publisher.ts';
import { CacheWriteThrough } from './cache/write-through.ts';
import { confirmersOf } from './confirm/wiring.ts';
import { TimelineFloor } from './confirm/timeline-floor.ts';
import { consumerHandlers } from './consumers.ts';
import type { FlushContext } from './flush/flush.ts';
import type { AfterCommitHook, BeforeStatementsHook, InTransactionHook } from './flush/hooks.ts';
import { viewFences, viewsOf } from './views/wiring.ts';
import { StatementCache } from './flush/sql.ts';
import { WriterMetrics } from './metrics/metrics.ts';
import { AllPartitions, type PartitionOwnership } from './partitions/ownership.ts';
import { LeasedPartitions } from './partitions/leased-partitions.ts';
import { pipeline } from './pipeline.ts';
import { boundedDrain } from './drain.ts';
import { shardingOf } from './sharding/wiring.ts';
import { DedupeRetention } from './retention/dedupe-retention.ts';
import { MapChanges } from '@sluice/shared/topology/changes.ts';

export { FATAL_ATTEMPTS } from './pipeline.ts';
export { DrainTimeoutError } from './drain.ts';

/** Optional collaborators; anything omitted is created from the config (and closed on stop). */
export interface WriterDeps {
  log?: Logger;
  /** Shards and shard map (started); the caller keeps ownership. */
  topology?: Topology;
  /** Where Redis connections come from; the caller keeps ownership. */
  redis?: RedisFactory;
  /** Catalog to use instead of introspecting SLUICE_TABLES. */
  catalog?: Catalog;
  /** Partition ownership: `leased` (default, shared with the other writers), `all` (a lone writer, tests), or a strategy. */
  ownership?: 'leased' | 'all' | PartitionOwnership;
  metrics?: WriterMetrics;
  /** Extra work inside every batch transaction (flush/hooks.ts). */
  inTransaction?: InTransactionHook[];
  /** Extra work before the statements of every batch attempt (flush/hooks.ts). */
  beforeStatements?: BeforeStatementsHook[];
  /** Extra work after every commit, after the cache and the acks (flush/hooks.ts). */
  afterCommit?: AfterCommitHook[];
  /** Bound on `stop()` (default 2 × SLUICE_LOCK_DURATION_MS); see {@link DrainTimeoutError}. */
  drainTimeoutMs?: number;
}

/** A running writer. */
export interface Writer {
  readonly catalog: Catalog;
  readonly metrics: WriterMetrics;
  readonly topology: Topology;
  /** Port of the `/metrics` server, when SLUICE_WRITER_METRICS_PORT started one. */
  readonly metricsPort: number | undefined;
  /** Names of the partitions consumed right now. */
  partitions(): readonly string[];
  /** Drain: stop taking jobs, commit open batches, close everything (LIFO). Idempotent. */
  stop(): Promise<void>;
}

/** The topology and Redis factory given, or made from the config (and closed on stop). */
async function connections(config: Readonly<Config>, deps: WriterDeps, releasers: Releasers, log: Logger): Promise<{ topology: Topology; redis: RedisFactory }> {
  let redis = deps.redis;
  if (redis === undefined) {
    const own = redisFactoryOf(config, log);
    releasers.add('redis connections', () => own.close());
    redis = own;
  }
  let topology = deps.topology;
  if (topology === undefined) {
    const own = topologyOf(config, log, 'sluice-writer');
    releasers.add('topology', () => own.close());
    await own.start();
    topology = own;
  }
  return { topology, redis };
}

/** The oldest append time of any job in a live partition of `shard` (see retention/dedupe-retention.ts). */
async function oldestQueuedAt(logs: PartitionLogs, topology: Topology, shard: string): Promise<number | null> {
  const times = await Promise.all(topology.map.live().filter((r) => r.shard === shard).map((r) => logs.get(r).oldestAppendedAt()));
  const known = times.filter((t): t is number => t !== null);
  return known.length === 0 ? null : Math.min(...known);
}

/** Start a writer: catalog, after-commit steps, metrics, one consumer per owned partition. */
export async function startWriter(config: Readonly<Config>, deps: WriterDeps = {}): Promise<Writer> {
  const log = deps.log ?? createLogger('sluice-writer', config.SLUICE_LOG_LEVEL);
  const releasers = new Releasers();
  const release = () =>
    releasers.releaseAll((name, err) => log.warn({ err, name }, 'close step failed')).then((errors) => {
      if (errors.length > 0) throw errors[0];
    });
  try {
    const { topology, redis } = await connections(config, deps, releasers, log);
    const catalog = deps.catalog ?? (await introspectCatalog(topology.metaDb, config.SLUICE_TABLES));
    if (catalog.size === 0) log.warn('SLUICE_TABLES is empty: every request will be dead-lettered (42P01)');
    const metrics = deps.metrics ?? new WriterMetrics({ defaultMetrics: config.SLUICE_WRITER_METRICS_PORT > 0 });
    metrics.exportConfig(config);
    const prefix = config.SLUICE_QUEUE_PREFIX;

    const control = redis.connect('producer', 'sluice-writer-control');
    const acks = new AckPublisher(control, prefix, log, () => metrics.ackPublishFailures.inc());
    releasers.add('ack publishes', () => acks.drain());
    const firstShard = topology.shards[0]!.name;
    const cacheRedis = redis.connect('cache', 'sluice-writer-cache');
    const cache = new CacheWriteThrough(cacheRedis, catalog, (shard) => cachePrefixOf(prefix, shard, firstShard), cacheTtlsOf(config), log);

    let metricsPort: number | undefined;
    if (config.SLUICE_WRITER_METRICS_PORT > 0) {
      const server = await startMetricsServer(metrics.registry, config.SLUICE_WRITER_METRICS_PORT, metricsHostOf(config));
      releasers.add('metrics server', () => server.close());
      metricsPort = server.port;
    }

    const statements = new StatementCache({ returnRows: config.SLUICE_CACHE_WRITE_THROUGH === 'values', shardKeys: topology.map.shardKeys, copyMinRows: config.SLUICE_COPY_MIN_ROWS });
    const failpoints = new FailPoints(config.SLUICE_FAILPOINTS);
    // New maps (a move's steps, a partition change) arrive over pub/sub, not only at the next poll.
    await topology.followChanges(new MapChanges(control, redis.connect('subscriber', 'sluice-writer-map'), prefix));
    const logs = new PartitionLogs(control, prefix);
    releasers.add('partition logs', () => logs.close());
    const views = config.SLUICE_VIEWS_DIR === undefined ? undefined : await viewsOf(config.SLUICE_VIEWS_DIR, catalog, topology, log);
    const sharding = shardingOf({ topology, catalog, log, metrics, logs, gateways: () => liveGateways(control, prefix), views: views?.views.map((v) => v.bound) });
    releasers.add('sharding', () => sharding.stop());
    // An old primary back behind a shard's address takes nothing (confirm/timeline-floor.ts).
    const floor = new TimelineFloor(control, prefix, () => topology.shards.map((sh) => sh.name), { refused: (shard, reason) => metrics.staleServerRefusals.inc({ shard, reason }), floor: (shard, tl) => metrics.primaryTimeline.set({ shard }, tl) }, log);
    await floor.start();
    releasers.add('timeline floor', () => floor.stop());
    const contexts = new Map<string, FlushContext>();
    const contextOf = (shard: string): FlushContext => {
      let ctx = contexts.get(shard);
      if (ctx === undefined) contexts.set(shard, (ctx = { pool: topology.db(shard), server: (conn, st) => floor.check(shard, conn, st), catalog, cache: statements, failpoints, log, inTransaction: [...sharding.inTransaction, ...(views ? [views.inTransaction] : []), ...(deps.inTransaction ?? [])], beforeStatements: [...(views ? [views.before] : []), ...(deps.beforeStatements ?? [])] }));
      return ctx;
    };
    // A failover: rows cached from commits it lost carry stamps of the dead timeline (read/cache/forget.ts).
    const confirmers = confirmersOf(config, topology, metrics, log, async (shard) => {
      const dropped = await forgetCachedRows(cacheRedis, cachePrefixOf(prefix, shard, firstShard));
      log.warn({ shard, dropped }, 'primary changed timeline: cached rows of the shard dropped');
    });
    // In order: the cache before the ack (a client reading right after its ack sees its write);
    // last, the jobs wait until a standby has the commit (confirm/confirmer.ts): a failover cannot lose them.
    // With SLUICE_CONFIRM_BEFORE_ACK every ack waits for it too (a committed ack then survives a failover);
    // without, only the acks of `Sluice-Ack: replicated` requests do, and they are sent only when confirmed
    // (a confirmation that timed out sends none: the gateway answers 504 and the client polls the write).
    const early = config.SLUICE_CONFIRM_BEFORE_ACK;
    const confirmed = new WeakMap<object, boolean>();
    const confirm: AfterCommitHook = async ({ partition, result }) => void confirmed.set(result, await confirmers.confirm(partition.shard, result));
    const replicatedAcks: AfterCommitHook = ({ result }) => {
      if (confirmed.get(result) === true) acks.publish(result.acks.filter((a) => a.rep === true));
    };
    const afterCommit: AfterCommitHook[] = [
      ({ partition, jobs, result }) => cache.apply(partition.shard, jobs, result),
      ...(early ? [confirm] : []),
      ({ result }) => acks.publish(result.acks.filter((a) => a.rep !== true)),
      ({ partition, result, seconds }) => metrics.committed(partition.name, result.stats, seconds),
      ...(views ? [viewFences(views, cacheRedis, (shard) => cachePrefixOf(prefix, shard, firstShard), cacheTtlsOf(config), log)] : []),
      ...(deps.afterCommit ?? []),
      ...(early ? [] : [confirm]),
      replicatedAcks,
    ];
    const settings = {
      prefix,
      concurrency: config.SLUICE_WRITER_CONCURRENCY,
      lockDurationMs: config.SLUICE_LOCK_DURATION_MS,
      maxRows: config.SLUICE_BATCH_MAX_ROWS,
      lingerMs: config.SLUICE_BATCH_LINGER_MS,
      adaptiveLinger: config.SLUICE_ADAPTIVE_LINGER,
      // Test-only: read payloads only up to this version, as a writer of an older build would.
      payloadMaxVersion: failpoints.value('payload-read-max'),
    };
    const flow = pipeline({
      contextOf: (p) => contextOf(p.shard),
      afterCommit,
      metrics,
      log,
      slowMs: config.SLUICE_LOCK_DURATION_MS / 4,
      ...sharding.pipeline,
      // A group is bounded like a lone batch: its transaction holds row locks no longer than one.
      ...(config.SLUICE_GROUP_COMMIT ? { groupCommit: { maxRows: config.SLUICE_BATCH_MAX_ROWS } } : {}),
    });
    const ownership =
      deps.ownership === 'all'
        ? new AllPartitions(topology)
        : deps.ownership === undefined || deps.ownership === 'leased'
          ? new LeasedPartitions({ settings: { prefix, ttlMs: config.SLUICE_LEASE_TTL_MS, renewMs: config.SLUICE_LEASE_RENEW_MS }, topology, redis: control, log, registry: metrics.registry, beforeClaim: (shard) => floor.verify(shard, topology.db(shard)) })
          : deps.ownership;
    releasers.add('partitions', () => ownership.stop());
    await ownership.start(consumerHandlers({ settings, redis, log, metrics, ...flow }));

    // Layout epochs drained by the writers are closed here (topology/epochs.ts).
    const closer = setInterval(() => {
      if (topology.map.shardNames.some((s) => topology.map.openEpochs(s).length > 1)) {
        void closeDrainedEpochs({ topology, log, backlog: async (r) => (await logs.get(r).counts()).backlog, gateways: () => liveGateways(control, prefix) });
      }
    }, config.SLUICE_LEASE_RENEW_MS);
    releasers.add('epoch closer', () => clearInterval(closer));
    const retention = new DedupeRetention(
      { windowS: config.SLUICE_DEDUPE_RETENTION_S, intervalMs: config.SLUICE_RETENTION_INTERVAL_MS, batchRows: config.SLUICE_RETENTION_BATCH_ROWS },
      () => topology.shards.map((sh) => ({ name: sh.name, db: topology.db(sh.name), oldestQueuedAt: () => oldestQueuedAt(logs, topology, sh.name), guard: () => floor.verify(sh.name, topology.db(sh.name)) })),
      log,
      (table, rows) => metrics.retentionRemoved.inc({ table }, rows),
    );
    retention.start();
    releasers.add('dedupe retention', () => retention.stop());
    lifecycleLogger(log).info({ partitions: ownership.owned(), tables: [...catalog.keys()], prefix, map: topology.map.version }, 'writer started');

    let stopping: Promise<void> | undefined;
    return {
      catalog,
      metrics,
      topology,
      metricsPort,
      partitions: () => ownership.owned(),
      stop: () => (stopping ??= boundedDrain(release(), deps.drainTimeoutMs ?? 2 * config.SLUICE_LOCK_DURATION_MS, log).then(() => lifecycleLogger(log).info('writer stopped'))),
    };
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Config } from '@sluice/shared/config/index.ts';
import { createPool, type Pool } from '@sluice/shared/db/index.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { createLogger, lifecycleLogger, type Logger } from '@sluice/shared/log/index.ts';
import { closeRedis, createRedis } from '@sluice/shared/redis/index.ts';
import { AckPublisher } from './acks/publisher.ts';
import { CacheWriteThrough } from './cache/write-through.ts';
import { backoffMs } from './batcher/backoff.ts';
import { classify, errorCode } from './flush/classify.ts';
import { flushBatch, type FlushContext } from './flush/flush.ts';
import { StatementCache } from './flush/sql.ts';
import type { BatchJob } from './flush/types.ts';
import { WriterMetrics } from './metrics/metrics.ts';
import { startMetricsServer } from '@sluice/shared/metrics/server.ts';
import { FencedError, type Fence } from './partitions/fence.ts';
import { LeasedPartitions } from './partitions/leased-partitions.ts';
import { MAX_STALLED_COUNT, PartitionConsumer, type ConsumerDeps } from './partitions/partition-consumer.ts';
import { recoverOrphans } from './recovery/orphans.ts';
import type { OwnershipHandlers, PartitionGrant, PartitionOwnership } from './partitions/ownership.ts';

/**
 * Attempts of a batch failing with an error that is neither retryable nor
 * poison (a writer bug, 58xxx I/O, XX000) before the next attempt isolates:
 * it bisects the batch and dead-letters the requests that fail alone
 * (RELIABILITY row 4). Only if that attempt fails too do the jobs fail
 * through BullMQ (an error no single request explains, e.g. disk I/O).
 */
export const FATAL_ATTEMPTS = 5;

/** Optional collaborators; anything omitted is created from the config (and closed on stop). */
export interface WriterDeps {
  log?: Logger;
  /** Postgres pool to use; the caller keeps ownership (it is not ended on stop). */
  pool?: Pool;
  /** Catalog to use instead of introspecting SLUICE_TABLES. */
  catalog?: Catalog;
  /** Partition ownership; default: leases shared with the other writers (`LeasedPartitions`). */
  ownership?: PartitionOwnership;
  metrics?: WriterMetrics;
  /** Bound on `stop()` (default 2 × SLUICE_LOCK_DURATION_MS); see {@link DrainTimeoutError}. */
  drainTimeoutMs?: number;
}

/**
 * `stop()` overran its bound: a batch could not commit (Postgres down or
 * frozen) and kept being retried. Its jobs are neither done nor failed: once
 * this process exits their BullMQ locks lapse and another writer gets them
 * (`sluice.applied_jobs` keeps that exactly-once). The caller should exit.
 */
export class DrainTimeoutError extends Error {
  override readonly name = 'DrainTimeoutError';
}

/** `drain`, or a DrainTimeoutError after `ms`: a drain must never hang a deploy. */
function boundedDrain(drain: Promise<void>, ms: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      log.error({ ms }, 'drain overran: open batches are left for redelivery after their locks lapse');
      reject(new DrainTimeoutError(`writer drain did not finish within ${ms} ms`));
    }, ms);
  });
  // The drain keeps running if it loses the race; its own failures are already logged by `release`.
  drain.catch(() => {});
  return Promise.race([drain, overrun]).finally(() => clearTimeout(timer));
}

/** A running writer. */
export interface Writer {
  readonly catalog: Catalog;
  readonly metrics: WriterMetrics;
  /** Port of the `/metrics` server, when SLUICE_WRITER_METRICS_PORT started one. */
  readonly metricsPort: number | undefined;
  /** Partitions consumed right now. */
  partitions(): readonly number[];
  /** Drain: stop taking jobs, commit open batches, close everything (LIFO). Idempotent. */
  stop(): Promise<void>;
}

/** The flush and retry policy a partition consumer runs. */
function pipeline(config: Readonly<Config>, ctx: FlushContext, acks: AckPublisher, cache: CacheWriteThrough, metrics: WriterMetrics): Pick<ConsumerDeps, 'flush' | 'retryDelay'> {
  const log = ctx.log;
  const slowMs = config.SLUICE_LOCK_DURATION_MS / 4;
  return {
    async flush(partition: number, jobs: readonly BatchJob[], attempt: number, fence?: Fence) {
      const t0 = performance.now();
      const res = await flushBatch(ctx, jobs, { fence, isolateFatal: attempt > FATAL_ATTEMPTS });
      const ms = performance.now() - t0;
      // Update the cache before acking, so a client that reads right after its commit never sees the old row.
      await cache.apply(jobs, res);
      acks.publish(res.acks);
      metrics.committed(partition, res.stats, ms / 1000);
      if (res.stats.dead.length > 0) log.warn({ partition, dead: res.stats.dead }, 'requests dead-lettered');
      // Locks are renewed every lockDuration/2 while we wait; a flush near that is a sign of trouble.
      if (ms > slowMs) log.warn({ partition, ms: Math.round(ms), rows: res.stats.rows }, 'slow flush: keep flushes well under SLUICE_LOCK_DURATION_MS/2 (lower SLUICE_BATCH_MAX_ROWS?)');
      else log.debug({ partition, ms: Math.round(ms), ...res.stats, dead: res.stats.dead.length }, 'batch committed');
    },
    retryDelay(partition: number, err: unknown, attempt: number) {
      // A newer owner holds the partition: nothing to retry, the consumer hands its jobs back.
      if (err instanceof FencedError) return null;
      const kind = classify(err);
      const sqlstate = errorCode(err);
      if (kind === 'retry' || attempt <= FATAL_ATTEMPTS) {
        const delay = backoffMs(attempt);
        metrics.retries.inc({ sqlstate, kind });
        const next = kind !== 'retry' && attempt === FATAL_ATTEMPTS ? 'isolating the guilty requests next' : 'retrying the same batch';
        log.warn({ partition, err, sqlstate, kind, attempt, delay }, `batch failed; ${next}`);
        return delay;
      }
      log.error({ partition, err, sqlstate, kind, attempt }, 'batch failed for good, even isolated; failing its jobs through BullMQ');
      return null;
    },
  };
}

/** The caller's pool, or one made from the config (and ended on stop). */
function openPool(config: Readonly<Config>, deps: WriterDeps, releasers: Releasers, log: Logger): Pool {
  if (deps.pool) return deps.pool;
  const pool = createPool({
    url: config.DATABASE_URL,
    max: config.SLUICE_PG_POOL_MAX,
    connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: config.SLUICE_STATEMENT_TIMEOUT_MS,
    applicationName: 'sluice-writer',
    log,
  });
  releasers.add('postgres pool', () => pool.end());
  return pool;
}

/**
 * Before consuming partition `p`, hand the jobs a dead writer left active
 * back to the head of the queue in their order (see recovery/orphans.ts):
 * without this a restarted or succeeding writer breaks per-key order. Under a
 * lease (`fenced`) the previous owner can no longer commit, so this need not
 * wait for its job locks to lapse: the takeover bound is the lease's.
 */
async function handBackOrphans(deps: ConsumerDeps, p: number, fenced: boolean): Promise<void> {
  const c = deps.config;
  const connection = createRedis({ url: c.REDIS_URL, role: 'worker', timeoutMs: c.SLUICE_REDIS_TIMEOUT_MS, name: `sluice-writer-recover-p${p}` });
  try {
    await recoverOrphans({ connection, prefix: c.SLUICE_QUEUE_PREFIX, partition: p, lockDurationMs: c.SLUICE_LOCK_DURATION_MS, maxStalledCount: MAX_STALLED_COUNT, fenced, log: deps.log });
  } finally {
    await closeRedis(connection);
  }
}

/** Longest wait between two tries of a failed consumer restart. */
const RESTART_RETRY_CAP_MS = 30_000;

/**
 * Ownership callbacks: one PartitionConsumer per owned partition. Without a
 * lease (`AllPartitions`) an interrupted consumer is replaced here: stopped,
 * then started again, which hands its orphans back first. A start that fails
 * (Redis refusing writes: out of memory, a read-only replica after a
 * failover) is tried again with backoff for as long as the partition is
 * ours: nobody else would ever consume it. Under a lease the grant's `lost`
 * does the same through the ownership strategy, which frees the lease.
 */
function consumerHandlers(deps: ConsumerDeps): OwnershipHandlers {
  const consumers = new Map<number, PartitionConsumer>();
  /** Restarts in flight; `release` aborts one (it stops retrying) and waits for it. */
  const restarts = new Map<number, { run: Promise<void>; abort: AbortController }>();

  const start = async (p: number, grant?: PartitionGrant) => {
    await handBackOrphans(deps, p, grant !== undefined);
    const c: PartitionConsumer = new PartitionConsumer(p, deps, grant, () => restart(p, c));
    try {
      await c.start();
    } catch (err) {
      await c.stop().catch(() => {}); // close what start opened
      throw err;
    }
    consumers.set(p, c);
    deps.metrics.partitionsOwned.inc();
  };

  /** Stop `p`'s consumer (only if it is still `only`, when given). */
  const stop = async (p: number, only?: PartitionConsumer) => {
    const c = consumers.get(p);
    if (!c || (only && c !== only)) return;
    consumers.delete(p);
    deps.metrics.partitionsOwned.dec();
    await c.stop();
  };

  const restart = (p: number, c: PartitionConsumer) => {
    if (restarts.has(p)) return;
    const abort = new AbortController();
    const run = (async () => {
      await stop(p, c);
      for (let attempt = 1; !abort.signal.aborted; attempt++) {
        try {
          await start(p);
          return;
        } catch (err) {
          const delay = backoffMs(attempt, 500, RESTART_RETRY_CAP_MS);
          deps.metrics.restartFailures.inc({ partition: String(p) });
          deps.log.error({ err, partition: p, attempt, delay }, 'partition restart failed; trying again');
          await sleep(delay, undefined, { signal: abort.signal }).catch(() => {});
        }
      }
    })()
      .catch((err: unknown) => deps.log.error({ err, partition: p }, 'partition restart failed'))
      .finally(() => restarts.delete(p));
    restarts.set(p, { run, abort });
  };

  return {
    acquire: start,
    async release(p: number) {
      const r = restarts.get(p);
      r?.abort.abort(); // a restart waiting to try again gives up
      await r?.run; // one starting a consumer: stop what it starts
      await stop(p);
    },
  };
}

/** Start a writer: pool, catalog, ack publisher, metrics, one consumer per owned partition. */
export async function startWriter(config: Readonly<Config>, deps: WriterDeps = {}): Promise<Writer> {
  const log = deps.log ?? createLogger('sluice-writer', config.SLUICE_LOG_LEVEL);
  const releasers = new Releasers();
  const release = () =>
    releasers.releaseAll((name, err) => log.warn({ err, name }, 'close step failed')).then((errors) => {
      if (errors.length > 0) throw errors[0];
    });
  try {
    const pool = openPool(config, deps, releasers, log);
    const catalog = deps.catalog ?? (await introspectCatalog(pool, config.SLUICE_TABLES));
    if (catalog.size === 0) log.warn('SLUICE_TABLES is empty: every request will be dead-lettered (42P01)');
    const metrics = deps.metrics ?? new WriterMetrics({ defaultMetrics: config.SLUICE_WRITER_METRICS_PORT > 0 });
    metrics.exportConfig(config);

    const ackRedis = createRedis({ url: config.REDIS_URL, role: 'producer', timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, name: 'sluice-writer-acks' });
    releasers.add('ack redis', () => closeRedis(ackRedis));
    const acks = new AckPublisher(ackRedis, config.SLUICE_QUEUE_PREFIX, log, () => metrics.ackPublishFailures.inc());
    releasers.add('ack publishes', () => acks.drain());
    const cacheRedis = createRedis({ url: config.SLUICE_CACHE_REDIS_URL ?? config.REDIS_URL, role: 'cache', timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, name: 'sluice-writer-cache' });
    cacheRedis.on('error', (err) => log.debug({ err }, 'cache redis error'));
    releasers.add('cache redis', () => closeRedis(cacheRedis));
    const cache = new CacheWriteThrough(cacheRedis, catalog, config, log);

    let metricsPort: number | undefined;
    if (config.SLUICE_WRITER_METRICS_PORT > 0) {
      const server = await startMetricsServer(metrics.registry, config.SLUICE_WRITER_METRICS_PORT);
      releasers.add('metrics server', () => server.close());
      metricsPort = server.port;
    }

    const ctx: FlushContext = { pool, catalog, cache: new StatementCache({ returnRows: config.SLUICE_CACHE_WRITE_THROUGH === 'values' }), failpoints: new FailPoints(config.SLUICE_FAILPOINTS), log };
    const ownership = deps.ownership ?? new LeasedPartitions({ config, db: pool, log, registry: metrics.registry });
    releasers.add('partitions', () => ownership.stop());
    await ownership.start(consumerHandlers({ config, log, metrics, ...pipeline(config, ctx, acks, cache, metrics) }));
    lifecycleLogger(log).info({ partitions: ownership.owned(), tables: [...catalog.keys()], prefix: config.SLUICE_QUEUE_PREFIX }, 'writer started');

    let stopping: Promise<void> | undefined;
    return {
      catalog,
      metrics,
      metricsPort,
      partitions: () => ownership.owned(),
      stop: () => (stopping ??= boundedDrain(release(), deps.drainTimeoutMs ?? 2 * config.SLUICE_LOCK_DURATION_MS, log).then(() => lifecycleLogger(log).info('writer stopped'))),
    };
  } catch (err) {
    await release().catch(() => {});
    throw err;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@sluice/shared/log/index.ts';
import { handBackOrphans } from '@sluice/shared/partition-log/orphans.ts';
import type { RedisFactory } from '@sluice/shared/redis/factory.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import { backoffMs } from './batcher/backoff.ts';
import type { WriterMetrics } from './metrics/metrics.ts';
import type { OwnershipHandlers, PartitionGrant } from './partitions/ownership.ts';
import { MAX_STALLED_COUNT, type ConsumerDeps } from './partitions/consumer-deps.ts';
import { PartitionConsumer } from './partitions/partition-consumer.ts';

/** Longest wait between two tries of a failed consumer restart. */
const RESTART_RETRY_CAP_MS = 30_000;

/**
 * Before consuming a partition, hand the jobs a dead writer left taken back
 * to the head of its queue, in their order (partition-log/orphans.ts):
 * without this a restarted or succeeding writer breaks per-key order. Under
 * a lease (`fenced`) the previous owner can no longer commit, so this need
 * not wait for its job locks to lapse: the takeover bound is the lease's.
 */
async function handBack(redis: RedisFactory, d: ConsumerDeps, p: PartitionRef, fenced: boolean): Promise<void> {
  const connection = redis.connect('worker', `sluice-writer-recover-${p.name}`);
  try {
    await handBackOrphans({ connection, prefix: d.settings.prefix, partition: p, lockDurationMs: d.settings.lockDurationMs, maxStalledCount: MAX_STALLED_COUNT, fenced, log: d.log });
  } finally {
    await redis.release(connection);
  }
}

/**
 * Ownership callbacks: one PartitionConsumer per owned partition. Without a
 * lease (`AllPartitions`) an interrupted consumer is replaced here: stopped,
 * then started again, which hands its orphans back first. A start that fails
 * (Redis refusing writes: out of memory, a read-only replica after a
 * failover) is tried again with backoff for as long as the partition is
 * ours: nobody else would ever consume it. Under a lease the grant's `lost`
 * does the same through the ownership strategy, which frees the lease.
 */
export function consumerHandlers(deps: ConsumerDeps & { metrics: WriterMetrics; log: Logger }): OwnershipHandlers {
  const consumers = new Map<string, PartitionConsumer>();
  /** Restarts in flight; `release` aborts one (it stops retrying) and waits for it. */
  const restarts = new Map<string, { run: Promise<void>; abort: AbortController }>();

  const start = async (p: PartitionRef, grant?: PartitionGrant) => {
    await handBack(deps.redis, deps, p, grant !== undefined);
    const c: PartitionConsumer = new PartitionConsumer(p, deps, grant, () => restart(p, c));
    try {
      await c.start();
    } catch (err) {
      await c.stop().catch(() => {}); // close what start opened
      throw err;
    }
    consumers.set(p.name, c);
    deps.metrics.partitionsOwned.inc();
  };

  /** Stop `p`'s consumer (only if it is still `only`, when given). */
  const stop = async (p: PartitionRef, only?: PartitionConsumer) => {
    const c = consumers.get(p.name);
    if (!c || (only && c !== only)) return;
    consumers.delete(p.name);
    deps.metrics.partitionsOwned.dec();
    await c.stop();
  };

  const restart = (p: PartitionRef, c: PartitionConsumer) => {
    if (restarts.has(p.name)) return;
    const abort = new AbortController();
    const run = (async () => {
      await stop(p, c);
      for (let attempt = 1; !abort.signal.aborted; attempt++) {
        try {
          await start(p);
          return;
        } catch (err) {
          const delay = backoffMs(attempt, 500, RESTART_RETRY_CAP_MS);
          deps.metrics.restartFailures.inc({ partition: p.name });
          deps.log.error({ err, partition: p.name, attempt, delay }, 'partition restart failed; trying again');
          await sleep(delay, undefined, { signal: abort.signal }).catch(() => {});
        }
      }
    })()
      .catch((err: unknown) => deps.log.error({ err, partition: p.name }, 'partition restart failed'))
      .finally(() => restarts.delete(p.name));
    restarts.set(p.name, { run, abort });
  };

  return {
    acquire: start,
    async release(p: PartitionRef) {
      const r = restarts.get(p.name);
      r?.abort.abort(); // a restart waiting to try again gives up
      await r?.run; // one starting a consumer: stop what it starts
      await stop(p);
    },
  };
}

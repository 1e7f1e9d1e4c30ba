import { Job, Queue } from 'bullmq';
import type { Logger } from '../log/index.ts';
import type { RedisClient as Redis } from '../redis/connections.ts';
import type { PartitionRef } from '../topology/partitions.ts';
import { queueName } from './names.ts';

/**
 * Orphaned jobs: jobs a dead writer left in a partition's BullMQ `active`
 * list. BullMQ's own stalled-job check would move them back to `wait` in the
 * order of a Redis SET (i.e. scrambled) and only after a new consumer has
 * already started taking newer jobs from `wait`. Either breaks per-key order:
 * a client's second upsert of a key, queued after the first was
 * acknowledged, could commit before the first.
 *
 * So before a writer starts consuming a partition it hands the orphans back
 * itself, in order: it waits (bounded) for their locks to lapse, then moves
 * them to the head of `wait`, oldest nearest the head, so they are taken
 * before anything newer and in the order they were first taken. `active` is
 * ordered (BullMQ RPOPLPUSHes from `wait`: newest at the left), which is what
 * makes this possible.
 */

/** What recovery needs. */
export interface RecoverOptions {
  /** A connection the caller owns (offline queue on: used before the worker starts). */
  connection: Redis;
  prefix: string;
  partition: PartitionRef;
  /** SLUICE_LOCK_DURATION_MS: a dead owner's locks lapse within this. */
  lockDurationMs: number;
  /** Stalls after which BullMQ fails a job (a job that crashes every writer must not loop forever). */
  maxStalledCount: number;
  /**
   * The caller holds the partition's lease and has raised its Postgres fencing
   * token (partitions/fence.ts): no previous owner can commit any more, so its
   * jobs are handed back at once instead of after their locks lapse.
   */
  fenced?: boolean;
  log: Logger;
}

// BullMQ's own wording and field (moveStalledJobsToWait.lua): a worker fails a
// fetched job whose `defa` (deferred failure) is set.
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';
const POLL_MS = 100;

/**
 * Move the partition's orphaned active jobs back to the head of `wait`, in
 * order. Waits up to one lock duration (plus a margin) for held locks to
 * lapse; a lock still held after that belongs to a live consumer and its job
 * is left alone. Returns how many jobs were moved.
 */
export async function handBackOrphans(o: RecoverOptions): Promise<number> {
  const queue = new Queue(queueName(o.partition), { connection: o.connection, prefix: o.prefix });
  queue.on('error', () => {}); // the connection's owner logs its errors
  try {
    // The Queue checks its connection as it opens (INFO) and reports a failed check as an
    // 'error' event, but close() drops its listeners even while that check is in flight: a
    // check failing after it (the caller closes the connection once this returns; a Redis
    // Cluster node fails over) is thrown where nobody catches it, an unhandled rejection
    // (taskforcesh/bullmq#3546). So the check settles first; if it fails, so does the hand-back.
    await queue.waitUntilReady();
    const deadline = Date.now() + o.lockDurationMs + 1000;
    for (;;) {
      // [newest … oldest]: RPUSHing in this order leaves the oldest at the head (RPOPLPUSH takes from the right).
      const active = await o.connection.lrange(queue.keys.active!, 0, -1);
      if (active.length === 0) return 0;
      const locked = o.fenced ? new Set<string>() : await lockedIds(o.connection, queue, active);
      if (locked.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      if (locked.size > 0) o.log.warn({ partition: o.partition.name, held: locked.size }, 'active jobs still locked by a live consumer; recovering only the orphans');
      const orphans = active.filter((id) => !locked.has(id));
      for (const id of orphans) await handBack(o, queue, id);
      if (orphans.length > 0) o.log.warn({ partition: o.partition.name, jobs: orphans.length }, 'handed a dead writer\'s jobs back to the queue, in order');
      return orphans.length;
    }
  } finally {
    await queue.close();
  }
}

async function lockedIds(redis: Redis, queue: Queue, ids: readonly string[]): Promise<Set<string>> {
  const pipe = redis.pipeline();
  for (const id of ids) pipe.exists(`${queue.toKey(id)}:lock`);
  const res = (await pipe.exec()) ?? [];
  return new Set(ids.filter((_, i) => res[i]?.[1] === 1));
}

/** Count the stall (as BullMQ's checker would), then move the job to the head of wait. */
async function handBack(o: RecoverOptions, queue: Queue, id: string): Promise<void> {
  const key = queue.toKey(id);
  const stalls = await o.connection.hincrby(key, 'stc', 1);
  if (stalls > o.maxStalledCount) await o.connection.hset(key, 'defa', STALLED_TOO_OFTEN);
  // Drop it from the stalled-candidates set so BullMQ's checker does not count it again.
  await o.connection.srem(queue.keys.stalled!, id);
  const job = await Job.fromId(queue, id);
  // Token "0" skips BullMQ's lock-owner check: the lock is gone, we checked. A job
  // no longer in `active` (its owner finished it meanwhile) is left as it is.
  await job?.moveToWait('0');
}

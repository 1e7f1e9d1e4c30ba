import { Queue } from 'bullmq';
import type { RedisClient as Redis } from '../redis/connections.ts';
import type { WriteJob } from '../queue/contract.ts';
import type { PartitionRef } from '../topology/partitions.ts';
import { queueName } from './names.ts';
import { waitReplicas } from '../redis/wait-replicas.ts';

/**
 * The producer side of one partition's log: a BullMQ queue. Gateways append
 * jobs (one `addBulk` per coalesced job), read the backlog, find a job for
 * the write-status route, and pause/resume the partition for operators.
 * Everything BullMQ-specific the producer relies on is here.
 */

/** Job counts of one partition. `backlog` is what still needs a writer. */
export interface LogCounts {
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  paused: number;
  failed: number;
  backlog: number;
}

/** A job as `entries` lists it. */
export interface LogJob {
  id: string;
  state: LogState;
  data: WriteJob;
  /** Times the log started it. */
  attempts: number;
  /** Why it failed (failed jobs only). */
  failedReason?: string;
}

/** A job found in the log. */
export interface FoundJob {
  /** BullMQ's state name (`waiting`, `active`, `failed`, …). */
  state: string;
  /** Requests the job carries. */
  requests: number;
}

/** What a partition's backlog holds. */
export interface BacklogSize {
  jobs: number;
  /** Requests (writes) in those jobs. */
  writes: number;
  /** Bytes of their payloads (JSON), what Redis memory is sized by. */
  bytes: number;
}

/**
 * Writes and bytes of jobs' payloads: the UTF-8 length of their JSON, which is
 * what BullMQ stores in the job hash's `data` field (so the writer's bulk
 * completion can subtract `HSTRLEN` of that field without parsing anything).
 */
export function sizeOfJobs(jobs: readonly unknown[]): { writes: number; bytes: number } {
  let writes = 0;
  let bytes = 0;
  for (const d of jobs) {
    const reqs = (d as Partial<WriteJob> | undefined)?.reqs;
    writes += Array.isArray(reqs) ? reqs.length : 0;
    bytes += Buffer.byteLength(JSON.stringify(d ?? null));
  }
  return { writes, bytes };
}

/** The backlog-size hash of the queue whose key prefix is `queueKeyPrefix` (`<prefix>:<queue>:`). */
export function backlogSizeKey(queueKeyPrefix: string): string {
  return `${queueKeyPrefix}sluice-size`;
}

// KEYS: wait, active, paused, delayed, prioritized, the size hash.
const SIZES = `
local jobs = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
if jobs == 0 then redis.call('DEL', KEYS[6]) return {0, 0, 0} end
local v = redis.call('HMGET', KEYS[6], 'w', 'b')
return {jobs, math.max(0, tonumber(v[1] or '0')), math.max(0, tonumber(v[2] or '0'))}`;

/** Job states, as `entries` names them. */
export type LogState = 'waiting' | 'active' | 'delayed' | 'prioritized' | 'paused' | 'failed' | 'completed';
const ALL_STATES: readonly LogState[] = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed'];

const JOB_NAME = 'w';
const COUNTED = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'failed'] as const;

/**
 * One attempt: the writer retries transient failures itself, in order. A
 * BullMQ retry would come back after newer jobs and break per-key order, so a
 * job the writer gives up on stays in the failed set for an operator.
 * Completed jobs are removed at once (`sluice.applied_jobs` remembers them).
 */
const JOB_OPTIONS = { removeOnComplete: true, attempts: 1 } as const;

/**
 * How many Redis replicas must have an appended job before `append` resolves
 * (SLUICE_REDIS_WAIT_REPLICAS; 0 = the master's reply is enough), and how long
 * to wait for them (SLUICE_REDIS_TIMEOUT_MS).
 */
export interface AppendDurability {
  replicas: number;
  timeoutMs: number;
}

const NO_WAIT: AppendDurability = { replicas: 0, timeoutMs: 0 };

/** A partition's queue, on a connection the caller owns. */
export class PartitionLog {
  private readonly queue: Queue<WriteJob>;

  constructor(
    readonly ref: PartitionRef,
    private readonly connection: Redis,
    prefix: string,
    private readonly durability: AppendDurability = NO_WAIT,
  ) {
    this.queue = new Queue<WriteJob>(queueName(ref), { connection, prefix });
    // The shared connection's errors surface here too; its owner logs them.
    this.queue.on('error', () => {});
  }

  /**
   * Append jobs under their own ids (an id already present is not added twice: BullMQ keeps the first),
   * then add their writes and bytes to the partition's backlog size (see `sizes`). With
   * `durability.replicas` > 0, resolves only once that many replicas of the partition's master
   * have them (WAIT), else rejects with ReplicasUnconfirmedError (the jobs are on the master:
   * they may still be applied).
   */
  async append(jobs: readonly { id: string; data: WriteJob }[]): Promise<void> {
    const s = sizeOfJobs(jobs.map((j) => j.data));
    // Sent together with the jobs (one round trip, not two): the counters are
    // near enough by design (sizes() clamps at 0 and resets them when the log
    // drains), so a count that lands while the add fails, or the reverse, heals
    // itself. Only the add decides the append's outcome.
    const counted = this.connection.multi().hincrby(this.sizeKey, 'w', s.writes).hincrby(this.sizeKey, 'b', s.bytes).exec().catch(() => null);
    await this.queue.addBulk(jobs.map((j) => ({ name: JOB_NAME, data: j.data, opts: { ...JOB_OPTIONS, jobId: j.id } })));
    await counted;
    const d = this.durability;
    // Half the command timeout: WAIT answers (with too few replicas) before the command itself times out.
    if (d.replicas > 0) await waitReplicas(this.connection, this.queue.toKey('meta'), d.replicas, Math.max(1, Math.floor(d.timeoutMs / 2)));
  }

  /** The partition's backlog-size hash (beside the queue's keys: same hash tag). */
  get sizeKey(): string {
    return backlogSizeKey(this.queue.keys[''] ?? '');
  }

  /**
   * Jobs, writes and bytes in the log. Writes and bytes are counters kept
   * beside the queue (appends add, the consumer subtracts when a job leaves:
   * partition-log/consumer.ts), since counting them would read every job;
   * when the log holds no job they are set back to 0 in the same script, so
   * a count lost to a crash between a job's completion and its subtraction
   * does not outlive the backlog it belonged to.
   */
  async sizes(): Promise<BacklogSize> {
    const k = this.queue.keys;
    const [jobs, writes, bytes] = (await this.connection.eval(SIZES, 6, k.wait!, k.active!, k.paused!, k.delayed!, k.prioritized!, this.sizeKey)) as [number, number, number];
    return { jobs, writes, bytes };
  }

  /** Job counts by state. */
  async counts(): Promise<LogCounts> {
    const c = await this.queue.getJobCounts(...COUNTED);
    const n = (s: string) => c[s] ?? 0;
    return {
      waiting: n('wait'),
      active: n('active'),
      delayed: n('delayed'),
      prioritized: n('prioritized'),
      paused: n('paused'),
      failed: n('failed'),
      backlog: n('wait') + n('active') + n('delayed') + n('prioritized') + n('paused'),
    };
  }

  /** The job `jobId`, if it is still in the log (completed jobs are not). */
  async find(jobId: string): Promise<FoundJob | null> {
    const job = await this.queue.getJob(jobId);
    if (job === undefined) return null;
    return { state: await job.getState(), requests: Array.isArray(job.data?.reqs) ? job.data.reqs.length : 0 };
  }

  /**
   * The jobs a writer holds now (active) and the next `limit` it will take
   * (waiting, or paused), with their data: where jobs handed back by a
   * fenced-out writer land (the head of the log).
   */
  async head(limit: number): Promise<{ id: string; data: WriteJob }[]> {
    const out: { id: string; data: WriteJob }[] = [];
    for (const state of ['active', 'wait', 'paused'] as const) {
      for (const j of await this.queue.getJobs([state], 0, state === 'active' ? -1 : limit - 1, true)) if (j?.id !== undefined) out.push({ id: j.id, data: j.data });
    }
    return out;
  }

  /**
   * When the oldest job still in the log (taken, waiting, paused, delayed)
   * was appended, in ms of the appending gateway's clock; null when empty.
   * Any job that can still be delivered (again) is in the log, so nothing
   * older than this can be redelivered: what dedupe retention leans on.
   */
  async oldestAppendedAt(): Promise<number | null> {
    let oldest: number | null = null;
    for (const state of ['active', 'wait', 'paused', 'delayed', 'prioritized'] as const) {
      // asc: index 0 is the entry the log handed out (or will hand out) first, the oldest of its state.
      const [j] = await this.queue.getJobs([state], 0, 0, true);
      if (j?.timestamp !== undefined && (oldest === null || j.timestamp < oldest)) oldest = j.timestamp;
    }
    return oldest;
  }

  /** Every job in the given states, each state in the order it is handed out (for operators and tests: reads each job's hash, so not for hot paths). */
  async entries(states: readonly LogState[] = ALL_STATES): Promise<LogJob[]> {
    const out: LogJob[] = [];
    for (const state of states) {
      // asc: the order the log hands them out (oldest first).
      for (const j of await this.queue.getJobs([state], 0, -1, true)) {
        if (j?.id !== undefined) out.push({ id: j.id, state, data: j.data, attempts: j.attemptsStarted ?? 0, ...(j.failedReason ? { failedReason: j.failedReason } : {}) });
      }
    }
    return out;
  }

  /** How many events named `name` (e.g. `stalled`) the log's event stream holds (operators and tests). */
  async countEvents(name: string): Promise<number> {
    const entries = await this.connection.xrange(this.queue.keys.events!, '-', '+');
    return entries.filter(([, fields]) => fields[0] === 'event' && fields[1] === name).length;
  }

  /** Remove one job that is not taken (tests and operators); false when it was not there or is locked. */
  async remove(jobId: string): Promise<boolean> {
    return (await this.queue.remove(jobId)) === 1;
  }

  /** Delete the log and everything in it (tests and operators only: acknowledged writes in it are lost). */
  async destroy(): Promise<void> {
    await this.queue.obliterate({ force: true });
  }

  /** Stop writers from taking jobs (active ones finish); appends still work. Seen by every writer. */
  pause(): Promise<void> {
    return this.queue.pause();
  }

  resume(): Promise<void> {
    return this.queue.resume();
  }

  isPaused(): Promise<boolean> {
    return this.queue.isPaused();
  }

  /** Release BullMQ's resources (the connection stays open: it is the caller's). */
  close(): Promise<void> {
    return this.queue.close();
  }
}

/** The logs of many partitions on one connection, created on first use. */
export class PartitionLogs {
  private readonly logs = new Map<string, PartitionLog>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly durability: AppendDurability = NO_WAIT,
  ) {}

  /** The log of `ref`. */
  get(ref: PartitionRef): PartitionLog {
    let log = this.logs.get(ref.name);
    if (log === undefined) {
      log = new PartitionLog(ref, this.connection, this.prefix, this.durability);
      this.logs.set(ref.name, log);
    }
    return log;
  }

  /** Close every log made so far. Idempotent. */
  async close(): Promise<void> {
    const logs = [...this.logs.values()];
    this.logs.clear();
    await Promise.allSettled(logs.map((l) => l.close()));
  }
}

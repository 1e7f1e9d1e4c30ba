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
   * Append jobs under their own ids (an id already present is not added twice:
   * BullMQ keeps the first). With `durability.replicas` > 0, resolves only once
   * that many replicas of the partition's master have them (WAIT), else
   * rejects with ReplicasUnconfirmedError (the jobs are on the master: they
   * may still be applied).
   */
  async append(jobs: readonly { id: string; data: WriteJob }[]): Promise<void> {
    await this.queue.addBulk(jobs.map((j) => ({ name: JOB_NAME, data: j.data, opts: { ...JOB_OPTIONS, jobId: j.id } })));
    const d = this.durability;
    // Half the command timeout: WAIT answers (with too few replicas) before the command itself times out.
    if (d.replicas > 0) await waitReplicas(this.connection, this.queue.toKey('meta'), d.replicas, Math.max(1, Math.floor(d.timeoutMs / 2)));
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

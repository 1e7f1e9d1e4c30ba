import type { Logger } from '@sluice/shared/log/index.ts';
import { LeftInLog, LogConsumer, type LogEntry } from '@sluice/shared/partition-log/consumer.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { NEWEST_PAYLOAD_VERSION } from '@sluice/shared/queue/contract.ts';
import { buildOf } from '@sluice/shared/queue/payload.ts';
import { FencedError } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import { Batcher } from '../batcher/batcher.ts';
import type { BatchJob } from '../flush/types.ts';
import { readEntry } from './job.ts';
import type { PartitionGrant } from './ownership.ts';
import { MAX_STALLED_COUNT, type ConsumerDeps } from './consumer-deps.ts';
import { countSoloFlush, splitSuspects } from './suspects.ts';

/** A job this consumer holds back, to move to the queue head at stop. */
interface Returned {
  seq: number;
  entry: LogEntry;
  /** Never worked on (held behind a payload this writer cannot read): its take is not counted. */
  untouched: boolean;
  settle(): void;
}

/**
 * One partition's log consumed into one batcher. Up to SLUICE_WRITER_CONCURRENCY
 * jobs are held at once; each job's processor resolves when the batch holding
 * it has committed, and the log then marks the job done (meanwhile the locks
 * of held jobs are renewed every lockDuration/2, so a slow or retried flush
 * does not make them stall).
 *
 * Under a lease (a grant) every batch transaction checks the fencing token.
 * If a flush is fenced out (a newer owner exists), no job of this consumer is
 * failed or completed: they are moved back to the head of the queue, in
 * order, and the owner is told to release the partition. A redelivered job is
 * a crash suspect: it is flushed in a transaction of its own and
 * dead-lettered unapplied after MAX_SOLO_FLUSHES such flushes that never
 * finished (crash-loop quarantine).
 *
 * A job whose payload version this writer does not read (a newer gateway
 * wrote it, docs/PAYLOAD.md) is neither applied, failed nor skipped: the
 * consumer stops consuming the partition there (it is *waiting for a newer
 * writer*). Jobs taken before it still commit; it and every job taken after
 * it are held, never worked on, and moved back to the queue head in take
 * order at `stop()`, with their takes not counted, so the next owner (a
 * newer writer after the upgrade) takes them in queue order as first
 * deliveries. Skipping ahead would commit later writes of the partition's
 * keys before the held one.
 */
export class PartitionConsumer {
  private readonly batcher: Batcher<BatchJob>;
  private readonly log: Logger;
  private redis: Redis | undefined;
  private consumer: LogConsumer | undefined;
  private stopping: Promise<void> | undefined;
  private seq = 0;
  private returning: Returned[] = [];
  private readonly suspects = new WeakSet<BatchJob>();
  private readonly entries = new WeakMap<BatchJob, LogEntry>();
  /** The connection dropped: no job taken from now on may be committed by this consumer. */
  private interrupted = false;
  /** The payload version at the head this writer cannot read: the partition is not consumed any more (see the class comment). */
  private waitingFor: number | undefined;
  /** Stopping: held jobs are let go at once and moved back once the log consumer closed (see `stop`). */
  private releasingHeld = false;
  /** Ends this consumer's enlistment in group commit. */
  private unenlist: (() => void) | undefined;

  /**
   * @param grant the lease this partition is held under (none: `AllPartitions`)
   * @param onInterrupted called once when the connection drops (see
   *   `interrupt`); the owner must stop this consumer and, after handing the
   *   orphans back, start a new one. Under a grant, `grant.lost` is called.
   */
  constructor(
    readonly partition: PartitionRef,
    private readonly deps: ConsumerDeps,
    private readonly grant?: PartitionGrant,
    private readonly onInterrupted?: (reason: string) => void,
  ) {
    this.log = deps.log.child({ partition: partition.name });
    this.batcher = new Batcher<BatchJob>({
      maxRows: deps.settings.maxRows,
      lingerMs: deps.settings.lingerMs,
      adaptiveLinger: deps.settings.adaptiveLinger ?? false,
      onLinger: (ms) => deps.metrics.batchLinger.observe(ms / 1000),
      rowsOf: (j) => j.rows,
      flush: (jobs, attempt) => this.flush(jobs, attempt),
      retryDelay: (err, attempt) => deps.retryDelay(partition, err, attempt),
    });
  }

  /** Open the connection and start taking jobs. */
  async start(): Promise<void> {
    const s = this.deps.settings;
    this.redis = this.deps.redis.connect('worker', `sluice-writer:${s.prefix}:${this.partition.name}`);
    this.consumer = new LogConsumer(
      this.partition,
      {
        connection: this.redis,
        prefix: s.prefix,
        concurrency: s.concurrency,
        lockDurationMs: s.lockDurationMs,
        maxStalledCount: MAX_STALLED_COUNT,
        log: this.log,
        // A lease that may have lapsed takes nothing more (partition-log/consumer.ts OrderedWorker.mayTake).
        mayTake: () => {
          if (!this.grant || this.grant.valid()) return true;
          this.lose('lease may have lapsed (not renewed in time)');
          return false;
        },
        onFailed: (jobId, err) => {
          this.deps.metrics.jobsFailed.inc({ partition: this.partition.name });
          this.log.error({ err, jobId }, 'job failed');
        },
      },
      (entry) => this.process(entry),
    );
    this.redis.on('close', () => this.interrupt());
    await this.consumer.start();
    this.unenlist = this.deps.enlist?.(this.partition, () => this.batcher.sealOpen());
  }

  /**
   * The connection dropped. A job fetch may have run in Redis without its
   * reply reaching us: that job sits taken under a lock nobody renews, and
   * the client resends the fetch on reconnect, which takes the NEXT job.
   * Committing that one (or any later) before the orphan would break per-key
   * order. So the partition is given up: fetching stops, the open batch (jobs
   * taken before the drop) still commits, and every other job this consumer
   * holds is left taken, where the orphan is too, in fetch order. The next
   * consumer hands them all back to the queue head in that order before it
   * takes anything (partition-log/orphans.ts). Moving them back from here
   * instead would put them behind the orphan.
   */
  private interrupt(): void {
    if (this.interrupted || this.stopping) return;
    this.interrupted = true;
    this.consumer?.pauseFetching();
    const reason = 'partition log connection lost: a job fetch may have run without its reply';
    this.log.warn(reason);
    this.deps.metrics.interruptions.inc({ partition: this.partition.name });
    if (this.grant) this.grant.lost(reason);
    else this.onInterrupted?.(reason);
  }

  private async process(entry: LogEntry): Promise<void> {
    const seq = this.seq++;
    // Left taken for the next consumer (see `interrupt`).
    if (this.interrupted) throw new LeftInLog();
    // Behind a job this writer cannot read: held, untouched (see the class comment).
    if (this.waitingFor !== undefined) return this.giveBack(seq, entry, true);
    if (this.grant && !this.grant.valid()) {
      this.lose('lease may have lapsed (not renewed in time)');
      return this.giveBack(seq, entry);
    }
    const read = readEntry(entry, this.deps.settings.payloadMaxVersion);
    if (read.kind === 'newer') {
      this.waitForNewerWriter(read.version, entry.id);
      return this.giveBack(seq, entry, true);
    }
    const bj = read.job;
    this.deps.metrics.jobsRead.inc({ version: String(read.version), build: buildOf(bj.data) });
    this.entries.set(bj, entry);
    // Gateway jobs have attempts: 1, so a second start followed a stall or a
    // takeover hand-back: the job's last holder died or froze holding it.
    if (bj.attempts > 1) this.suspects.add(bj);
    try {
      await this.batcher.submit(bj);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      this.lose(err.message);
      return this.giveBack(seq, entry);
    }
  }

  /**
   * The partition is no longer ours: stop fetching at once (until the owner
   * stops this consumer, the log would keep handing out jobs that can only
   * be given back, again and again, each round a chance for a lock to lapse
   * and the job to count a stall), and tell the owner.
   */
  private lose(reason: string): void {
    this.consumer?.pauseFetching();
    this.grant?.lost(reason);
  }

  /**
   * The job at this point of the log has a payload version this writer does
   * not read: take nothing more (a fetch already waiting may still hand out
   * one job: `process` holds it too), keep the lease (another writer of this
   * build would do the same), and say so until the consumer stops.
   */
  private waitForNewerWriter(version: number, jobId: string): void {
    this.waitingFor = version;
    this.consumer?.pauseFetching();
    this.deps.metrics.newerPayloads.inc({ version: String(version) });
    this.deps.metrics.partitionsWaiting.set({ partition: this.partition.name, version: String(version) }, 1);
    const reads = this.deps.settings.payloadMaxVersion ?? NEWEST_PAYLOAD_VERSION;
    this.log.warn({ jobId, version, reads }, 'partition waiting for a newer writer: its next job has a payload version this writer does not read; left queued, with every later job of the partition (upgrade the writers)');
  }

  /**
   * Flush a batch: first deliveries together, each suspect alone (counted
   * first), in queue order. Resolves with the most jobs one of its
   * transactions committed (for the batcher's adaptive linger).
   */
  private async flush(jobs: readonly BatchJob[], attempt: number): Promise<number> {
    let together = 0;
    for (const run of splitSuspects(jobs, (j) => this.suspects.has(j))) {
      const job = run.jobs[0]!;
      // Once per batch, not per retry: a database outage must not count as a crash.
      if (run.suspect && attempt === 1) await countSoloFlush((field) => this.consumer!.countIn(this.entries.get(job)!, field), job);
      // A suspect's transaction holds nothing else, not even other partitions' batches: a crash is blamed on it alone.
      together = Math.max(together, await this.deps.flush(this.partition, run.jobs, attempt, this.grant?.fence, run.suspect));
      // Committed: mark the run's jobs done in one script, not one per job as each processor resolves.
      // Not after an interruption: the connection is gone (see `interrupt`).
      if (!this.interrupted) await this.consumer!.complete(run.jobs.map((j) => this.entries.get(j)!));
    }
    return together;
  }

  /**
   * Hold a job this consumer may not commit until `stop()` moves it back to
   * the queue head; then leave it to the log (neither done nor failed). After
   * an interruption the job is left taken at once (see `interrupt`).
   */
  private giveBack(seq: number, entry: LogEntry, untouched = false): Promise<void> {
    return new Promise<void>((_, reject) => {
      const r: Returned = { seq, entry, untouched, settle: () => reject(new LeftInLog()) };
      if (this.interrupted) return r.settle();
      this.returning.push(r);
      if (this.releasingHeld) r.settle();
    });
  }

  /** Move held jobs back to the queue head in take order; after an interruption they stay taken for the next consumer. */
  private async moveBack(jobs: Returned[]): Promise<void> {
    const ordered = [...jobs].sort((a, b) => a.seq - b.seq);
    if (!this.interrupted && ordered.length > 0) {
      await this.consumer!.moveBack(ordered.map((r) => r.entry), { untake: ordered.filter((r) => r.untouched).map((r) => r.entry) });
      if (this.waitingFor === undefined) this.log.warn({ jobs: ordered.length }, 'fenced out: uncommitted jobs moved back to the queue head');
      else this.log.info({ jobs: ordered.length, version: this.waitingFor }, 'jobs left for a newer writer moved back to the queue head, in order');
    }
    for (const r of ordered) r.settle();
  }

  /**
   * Stop taking jobs, commit the open batch (or, when fenced out, move the
   * jobs back), let held jobs finish, close the connection. Every step runs
   * even if one fails. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      let firstError: unknown;
      const step = async (name: string, fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (err) {
          firstError ??= err;
          this.log.warn({ err, step: name }, 'partition stop step failed');
        }
      };
      this.unenlist?.();
      // The log stops handing out jobs at once and resolves once every held job settled …
      const closing = this.consumer?.close();
      closing?.catch(() => {});
      // … which they do as the open batch, sealed now (linger no longer applies), commits;
      await step('batcher.stop', () => this.batcher.stop());
      // Held jobs (fenced out, lease lost, or waiting for a newer writer) go back to the queue head
      // only once the log has closed. The log hands out what it already fetched while it closes:
      // up to SLUICE_WRITER_CONCURRENCY jobs taken before the stop and not yet given to `process`,
      // which may only then find the partition lost or a newer payload. Moving each of those back as
      // it comes would push them to the head one at a time, newest last, i.e. at the head: reversed,
      // a key's later write ahead of its earlier one (seen: a writer stopped while its new consumer
      // was still fetching ahead). So every held job is let go now (left taken: its lock stays
      // until it expires, not renewed), a later one the same way as it comes, and once the log has
      // closed they are all moved back together, in take order. Should a lock expire first (a close
      // that took a whole lock period), that job stays taken, unlocked, and the next owner hands it
      // back in order (partition-log/orphans.ts). After an interruption they all stay taken (see `interrupt`).
      this.releasingHeld = true;
      for (const r of this.returning) r.settle();
      await step('log.close', async () => closing);
      // A job handed out after this (only if the close failed) stays taken: the next owner hands it back in order.
      await step('move back', () => this.moveBack(this.returning.splice(0)));
      await step('redis.quit', async () => this.redis && this.deps.redis.release(this.redis));
      if (this.waitingFor !== undefined) this.deps.metrics.partitionsWaiting.remove({ partition: this.partition.name, version: String(this.waitingFor) });
      if (firstError !== undefined) throw firstError;
    })();
    return this.stopping;
  }
}

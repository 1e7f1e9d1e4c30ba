import type { Queryable } from '@sluice/shared/db/pool.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { lsnValue, standbyState, type StandbyPositionKind, type StandbyState } from '@sluice/shared/sql/replication.ts';
import { NotPrimaryError, StaleTimelineError, TimelineChangedError } from './errors.ts';

/**
 * Keeps a batch's jobs in Redis until its commit is on a standby: with
 * asynchronous streaming replication the last commits of a primary that dies
 * may never reach the standby that is promoted. A job completed before then
 * would be gone from the queue with its data; a job kept until then is still
 * in Redis after a failover, and its batch is flushed again on the new
 * primary, where `sluice.applied_jobs` skips the jobs whose commit survived.
 *
 * One confirmer per shard, shared by its partitions. `confirm()` resolves
 * once `replicas` streaming standbys report a flush (or replay) position at
 * or past the commit's token, read from the primary's `pg_stat_replication`
 * together with the primary's role and timeline: one query per poll, polls
 * (see POLL_MIN_MS) only while a commit of the shard waits, each poll
 * settling every waiter; a commit below a position already seen on the
 * same timeline needs none. It throws, and the batch is retried, when the server
 * behind the shard's address is not the one that took the commit:
 *
 * - `NotPrimaryError`: it is in recovery (the address points at a standby);
 * - `TimelineChangedError`: it writes on another timeline (a standby was
 *   promoted and the address moved): the retry replays the batch there;
 * - `StaleTimelineError`: the server is on a timeline older than one this
 *   writer has seen its primary on (an old primary came back behind the
 *   address): its commits are never confirmed, so their jobs stay in Redis
 *   until the address is right again.
 *
 * Past `timeoutMs` the batch is counted as unconfirmed; `onTimeout` says
 * whether it then completes anyway (`complete`) or keeps waiting (`wait`).
 * A shard left with too few standbys (see `short`) does not make every batch
 * wait out the timeout under `complete`.
 */

/** How a shard's commits are confirmed (SLUICE_CONFIRM_*). */
export interface ConfirmSettings {
  /** Standbys that must have the commit; 0 = no confirmation. */
  replicas: number;
  position: StandbyPositionKind;
  timeoutMs: number;
  onTimeout: 'complete' | 'wait';
}

/** What the confirmer reports to (narrow: the writer's metrics). */
export interface ConfirmMetrics {
  confirmed(shard: string, seconds: number): void;
  unconfirmed(shard: string): void;
  timelineChanged(shard: string): void;
  /** The shard's primary was seen on a newer timeline than before (a standby was promoted). */
  newTimeline?(shard: string, from: number, to: number): void;
}

/** A committed batch's position. */
export interface CommitPosition {
  lsn: string;
  timeline: number;
}

/**
 * Pause between two polls while commits wait: one loop per shard polls for
 * every waiting partition at once, so the cost is one small query per pause
 * per shard, whatever the number of partitions and batches. The pause
 * doubles after a poll that confirmed nothing (a lagging or absent standby
 * must not cost a query every millisecond) and starts short again after one
 * that did.
 */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 25;

interface Waiter {
  c: CommitPosition;
  lsn: bigint;
  t0: number;
  timedOut: boolean;
  /** true: on enough standbys; false: completed unconfirmed (timeout with `complete`). */
  resolve(confirmed: boolean): void;
  reject(err: unknown): void;
}

/** One shard's confirmations (see the module comment). */
export class StandbyConfirmer {
  private waiters: Waiter[] = [];
  private loop: Promise<void> | undefined;
  /** Highest timeline this writer has seen the shard's primary on. */
  private newestTimeline = 0;
  /** The `replicas`-th highest standby position last seen, and its timeline: commits at or below it need no query. */
  private confirmedUpTo: { timeline: number; lsn: bigint } = { timeline: 0, lsn: -1n };

  /**
   * A commit timed out while fewer standbys than `replicas` were streaming
   * (e.g. right after a failover, before a new standby follows the promoted
   * one). With `complete`, later commits then complete at once (each
   * counted as unconfirmed) instead of each waiting out the timeout, until
   * enough standbys stream again.
   */
  private short = false;

  constructor(
    readonly shard: string,
    private readonly db: Queryable,
    private readonly s: ConfirmSettings,
    private readonly metrics: ConfirmMetrics,
    private readonly log: Logger,
  ) {}

  /**
   * Resolve once the commit is on enough standbys (true) or the timeout says
   * complete (false; also without confirmation); throw when the shard failed
   * over (see the module comment).
   */
  confirm(c: CommitPosition): Promise<boolean> {
    if (this.s.replicas === 0) return Promise.resolve(false);
    const lsn = lsnValue(c.lsn);
    if (this.covered(c.timeline, lsn)) return Promise.resolve(true);
    return new Promise<boolean>((resolve, reject) => {
      this.waiters.push({ c, lsn, t0: performance.now(), timedOut: false, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      if (this.waiters.length > 0) this.kick();
    });
  }

  /** Poll while commits wait; settle each after every poll. A failed poll fails every waiter (their batches are retried). */
  private async run(): Promise<void> {
    let pause = POLL_MIN_MS;
    while (this.waiters.length > 0) {
      let st: StandbyState;
      try {
        st = await standbyState(this.db, this.s.position);
      } catch (err) {
        for (const w of this.waiters.splice(0)) w.reject(err);
        return;
      }
      this.learn(st);
      const before = this.waiters.length;
      this.waiters = this.waiters.filter((w) => !this.settle(w, st));
      pause = this.waiters.length < before ? POLL_MIN_MS : Math.min(POLL_MAX_MS, pause * 2);
      if (this.waiters.length > 0) await new Promise((r) => setTimeout(r, pause));
    }
  }

  /** Decide one waiter against a poll; true when it is settled. */
  private settle(w: Waiter, st: StandbyState): boolean {
    const fail = (err: Error) => {
      w.reject(err);
      return true;
    };
    if (st.inRecovery) return fail(new NotPrimaryError(`shard ${this.shard}: the server behind its address is a standby`));
    const timeline = st.timeline!;
    if (timeline < this.newestTimeline) return fail(new StaleTimelineError(`shard ${this.shard}: the server behind its address is on timeline ${timeline}, but the primary has been on ${this.newestTimeline} (an old primary is back?)`));
    if (timeline !== w.c.timeline) {
      this.metrics.timelineChanged(this.shard);
      return fail(new TimelineChangedError(`shard ${this.shard}: commit on timeline ${w.c.timeline}, primary now on ${timeline}: replaying the batch`));
    }
    if (this.covered(w.c.timeline, w.lsn)) {
      this.metrics.confirmed(this.shard, (performance.now() - w.t0) / 1000);
      w.resolve(true);
      return true;
    }
    const standbys = st.positions.length;
    if (this.short && this.s.onTimeout === 'complete') {
      this.metrics.unconfirmed(this.shard);
      w.resolve(false);
      return true;
    }
    if (w.timedOut || performance.now() - w.t0 <= this.s.timeoutMs) return false;
    w.timedOut = true;
    this.metrics.unconfirmed(this.shard);
    if (standbys < this.s.replicas && !this.short) {
      this.short = true;
      this.log.warn({ shard: this.shard, standbys, want: this.s.replicas }, 'fewer standbys streaming than SLUICE_CONFIRM_REPLICAS: commits are not confirmed until enough stream again');
    }
    const at = { shard: this.shard, lsn: w.c.lsn, standbys, want: this.s.replicas };
    if (this.s.onTimeout === 'wait') {
      this.log.warn(at, 'commit not on enough standbys within SLUICE_CONFIRM_TIMEOUT_MS; its jobs wait in Redis until one has it');
      return false;
    }
    this.log.warn(at, 'commit not on enough standbys within SLUICE_CONFIRM_TIMEOUT_MS; completing its jobs anyway (a failover now may lose them)');
    w.resolve(false);
    return true;
  }

  private covered(timeline: number, lsn: bigint): boolean {
    return this.confirmedUpTo.timeline === timeline && lsn <= this.confirmedUpTo.lsn;
  }

  private learn(st: StandbyState): void {
    if (st.timeline === null) return;
    if (st.timeline > this.newestTimeline) {
      const from = this.newestTimeline;
      this.newestTimeline = st.timeline;
      if (from > 0) {
        this.log.warn({ shard: this.shard, from, to: st.timeline }, 'primary is on a new timeline (a standby was promoted)');
        this.metrics.newTimeline?.(this.shard, from, st.timeline);
      }
    }
    if (this.short && st.positions.length >= this.s.replicas) {
      this.short = false;
      this.log.warn({ shard: this.shard, standbys: st.positions.length }, 'enough standbys streaming again: commits wait for confirmation again');
    }
    const sorted = st.positions.filter((p): p is string => p !== null).map(lsnValue).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    // Positions of another timeline say nothing about this one's commits.
    if (this.confirmedUpTo.timeline !== st.timeline) this.confirmedUpTo = { timeline: st.timeline, lsn: -1n };
    const nth = sorted[this.s.replicas - 1];
    if (nth !== undefined && nth > this.confirmedUpTo.lsn) this.confirmedUpTo = { timeline: st.timeline, lsn: nth };
  }
}

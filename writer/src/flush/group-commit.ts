import type { Logger } from '@sluice/shared/log/index.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { FlushResult, Member } from './types.ts';

/**
 * Group commit across the partitions one writer consumes on one shard, in
 * the style of a database's group commit (leader/follower): each partition
 * still batches on its own (batcher/), but its batch does not open a
 * transaction of its own while this writer has one in flight on the shard.
 *
 * States, per shard:
 * - idle:  no transaction of this writer in flight; a batch that arrives
 *          starts one at once (one event-loop turn later: see below), with
 *          no added wait when the load is low.
 * - busy:  one transaction in flight; arriving batches wait. When it ends
 *          (committed or failed), every waiting batch, in arrival order up to
 *          `maxRows` rows (at least one batch), goes into the next
 *          transaction, together; with none waiting the shard is idle again.
 *
 * A transaction about to start also takes what the shard's other partitions
 * hold open and idle (`enlist`: their batchers seal the open batch early, and
 * it arrives before the group is taken, one event-loop turn later): those
 * rows go sooner than their own linger would send them, and the partitions
 * fall into step, so the next transaction finds them ready together.
 *
 * So under load a transaction carries the batches of every partition that
 * filled up meanwhile: fewer, bigger transactions (one BEGIN, one job claim,
 * one statement per table and op, one COMMIT and fsync, one consistency
 * token) for the same linger. Per-key order holds: keys never span
 * partitions and each partition has one batch in flight at a time.
 *
 * Only a batch's first attempt joins (pipeline.ts). A batch alone in its
 * transaction is flushed exactly as without group commit. A group of several
 * that fails for any reason (a data error, one member fenced out, a lost
 * connection) is rolled back whole and every member is told to flush alone,
 * as without group commit: poison bisection, fencing, retries and crash
 * quarantine stay per partition. The wait is bounded by one transaction of at most `maxRows`
 * rows (SLUICE_BATCH_MAX_ROWS), the size a lone batch may reach anyway.
 */

/**
 * What a batch learns: its committed part, with how many jobs its
 * transaction committed in all (`together`: the adaptive linger's measure of
 * company, shared/src/batching/linger.ts); or, when its group of several
 * failed, that it must flush alone (`alone`); or, when it was alone in its
 * transaction (flushed exactly as without group commit, bisection included),
 * that this failed (`failed`: retried like any failed batch).
 */
export type GroupOutcome = { result: FlushResult; seconds: number; together: number } | { alone: unknown } | { failed: unknown };

/** A batch waiting for the shard's next transaction. */
interface Waiting {
  member: Member & { partition: PartitionRef };
  rows: number;
  settle(outcome: GroupOutcome): void;
}

/** Settings and collaborators of a committer. */
export interface GroupCommitOptions {
  /** Bound on the rows of one group (a lone batch larger than this still goes, alone). */
  maxRows: number;
  /**
   * Commit the batches of one shard in one transaction, results per member in
   * order: several with flush.ts `flushGroup`, a lone one with `flushBatch`.
   */
  flush(members: readonly (Member & { partition: PartitionRef })[]): Promise<FlushResult[]>;
  log: Logger;
  /** A group of several batches failed and its members flush alone (for a metric). */
  onFallback?(members: number, err: unknown): void;
}

/**
 * The next group from the head of `waiting` (removed from it): in arrival
 * order while the rows fit in `maxRows`, at least one batch, never two
 * batches of one partition. Exported for its unit test.
 */
export function takeGroup<T extends { rows: number; member: { partition: PartitionRef } }>(waiting: T[], maxRows: number): T[] {
  const names = new Set<string>();
  let rows = 0;
  let n = 0;
  for (const w of waiting) {
    if (n > 0 && (rows + w.rows > maxRows || names.has(w.member.partition.name))) break;
    names.add(w.member.partition.name);
    rows += w.rows;
    n++;
  }
  return waiting.splice(0, n);
}

/** One writer's group committer, over every shard it flushes to (see the module comment). */
export class GroupCommitter {
  private readonly queues = new Map<string, { waiting: Waiting[]; busy: boolean }>();
  /** Per shard, per partition: seal that partition's open batch now (see `enlist`). */
  private readonly enlisted = new Map<string, Map<string, () => void>>();

  constructor(private readonly o: GroupCommitOptions) {}

  /**
   * `partition`'s open batch may be sealed early, by `sealOpen`, when a
   * transaction of its shard is about to start (see the module comment).
   * Returns the call that ends it (when its consumer stops).
   */
  enlist(partition: PartitionRef, sealOpen: () => void): () => void {
    let m = this.enlisted.get(partition.shard);
    if (m === undefined) this.enlisted.set(partition.shard, (m = new Map()));
    m.set(partition.name, sealOpen);
    return () => {
      if (m.get(partition.name) === sealOpen) m.delete(partition.name);
    };
  }

  /** Commit `member` with whatever else is waiting on its shard; never rejects (a failure says `alone`). */
  commit(member: Member & { partition: PartitionRef }): Promise<GroupOutcome> {
    return new Promise<GroupOutcome>((settle) => {
      const shard = member.partition.shard;
      let q = this.queues.get(shard);
      if (q === undefined) this.queues.set(shard, (q = { waiting: [], busy: false }));
      q.waiting.push({ member, rows: member.jobs.reduce((n, j) => n + j.rows, 0), settle });
      if (!q.busy) this.run(shard, q).catch((err: unknown) => this.o.log.error({ err }, 'group committer failed'));
    });
  }

  /** The shard's leader loop: one transaction at a time, each taking every batch that waited for it. */
  private async run(shard: string, q: { waiting: Waiting[]; busy: boolean }): Promise<void> {
    q.busy = true;
    try {
      while (q.waiting.length > 0) {
        this.sealOthers(shard, q.waiting);
        // The sealed batches reach `commit` within this turn's microtasks (a sharded placement check that waits: the next group).
        await new Promise<void>((r) => setImmediate(r));
        await this.commitGroup(takeGroup(q.waiting, this.o.maxRows));
      }
    } finally {
      q.busy = false;
    }
  }

  /** Seal the open batches of the shard's enlisted partitions that are not waiting already. */
  private sealOthers(shard: string, waiting: readonly Waiting[]): void {
    const m = this.enlisted.get(shard);
    if (m === undefined) return;
    const names = new Set(waiting.map((w) => w.member.partition.name));
    for (const [name, sealOpen] of m) if (!names.has(name)) sealOpen();
  }

  private async commitGroup(group: Waiting[]): Promise<void> {
    // Fence rows locked in one order by every writer: two stale groups cannot deadlock on them.
    group.sort((a, b) => (a.member.partition.name < b.member.partition.name ? -1 : 1));
    const t0 = performance.now();
    try {
      const results = await this.o.flush(group.map((w) => w.member));
      const seconds = (performance.now() - t0) / 1000;
      const together = group.reduce((n, w) => n + w.member.jobs.length, 0);
      group.forEach((w, i) => w.settle({ result: results[i]!, seconds, together }));
    } catch (err) {
      if (group.length === 1) return group[0]!.settle({ failed: err });
      this.o.onFallback?.(group.length, err);
      this.o.log.debug({ err, partitions: group.map((w) => w.member.partition.name) }, 'group commit failed; each batch flushes alone');
      for (const w of group) w.settle({ alone: err });
    }
  }
}

import { describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import { GroupCommitter, takeGroup, type GroupOutcome } from './group-commit.ts';
import type { BatchJob, FlushResult, Member } from './types.ts';

const ref = (shard: string, index: number): PartitionRef => ({ shard, epoch: 1, index, name: `${shard}.1.${index}` });
const jobOf = (id: string, rows: number): BatchJob => ({ id, rows, attempts: 1, data: { v: 1, reqs: [] } });
const member = (p: PartitionRef, rows: number): Member & { partition: PartitionRef } => ({ partition: p, jobs: [jobOf(`${p.name}.j`, rows)] });
const fake = (m: Member): FlushResult => ({ lsn: '0/1', timeline: 1, at: '', written: [], acks: [], stats: { jobs: m.jobs.length, skippedJobs: 0, requests: 0, rows: 0, duplicates: 0, dead: [], bisected: false } });

const tick = () => new Promise<void>((r) => setImmediate(r));

/** A committer whose transactions are recorded, held open until released, and made to fail on demand. */
function harness(maxRows = 100) {
  const groups: string[][] = [];
  const holds: (() => void)[] = [];
  const failures: unknown[] = [];
  const c = new GroupCommitter({
    maxRows,
    log: createLogger('group-commit-test', 'silent'),
    async flush(members) {
      groups.push(members.map((m) => m.partition.name));
      await new Promise<void>((r) => holds.push(r));
      const f = failures.shift();
      if (f) throw f;
      return members.map(fake);
    },
  });
  const release = async () => {
    await tick();
    holds.shift()?.();
    await tick();
    await tick();
  };
  return { c, groups, failures, release };
}

describe('takeGroup', () => {
  const w = (p: PartitionRef, rows: number) => ({ rows, member: { partition: p } });

  it('takes waiting batches in arrival order while their rows fit, at least one', () => {
    const q = [w(ref('main', 0), 60), w(ref('main', 1), 40), w(ref('main', 2), 1)];
    expect(takeGroup(q, 100).map((x) => x.member.partition.index)).toEqual([0, 1]);
    expect(q.map((x) => x.member.partition.index)).toEqual([2]);
    const big = [w(ref('main', 3), 500), w(ref('main', 0), 1)];
    expect(takeGroup(big, 100)).toHaveLength(1);
  });

  it('never takes two batches of one partition into one group', () => {
    const q = [w(ref('main', 0), 1), w(ref('main', 1), 1), w(ref('main', 0), 1)];
    expect(takeGroup(q, 100).map((x) => x.member.partition.index)).toEqual([0, 1]);
    expect(q).toHaveLength(1);
  });
});

describe('GroupCommitter', () => {
  it('starts a lone batch at once; batches arriving meanwhile share the next transaction', async () => {
    const h = harness();
    const first = h.c.commit(member(ref('main', 0), 10));
    await tick();
    expect(h.groups).toEqual([['main.1.0']]);
    const later = [h.c.commit(member(ref('main', 2), 10)), h.c.commit(member(ref('main', 1), 10))];
    expect(h.groups).toHaveLength(1);
    await h.release();
    expect('result' in (await first)).toBe(true);
    // Sorted by partition name (fence locks in one order).
    expect(h.groups).toEqual([['main.1.0'], ['main.1.1', 'main.1.2']]);
    await h.release();
    const outcomes = await Promise.all(later);
    expect(outcomes.every((o) => 'result' in o && o.result.stats.jobs === 1)).toBe(true);
  });

  it('keeps shards apart: each has its own transaction in flight', async () => {
    const h = harness();
    void h.c.commit(member(ref('s1', 0), 1));
    void h.c.commit(member(ref('s2', 0), 1));
    await tick();
    expect(h.groups).toEqual([['s1.1.0'], ['s2.1.0']]);
  });

  it('a transaction about to start seals the open batches of the shard\'s other enlisted partitions, which join it', async () => {
    const h = harness();
    const sealed: string[] = [];
    const joined: Promise<GroupOutcome>[] = [];
    // An enlisted partition with an open batch: sealing it flushes it, which reaches `commit` a few microtasks later.
    const enlist = (p: PartitionRef, open: boolean) =>
      h.c.enlist(p, () => {
        sealed.push(p.name);
        if (open) joined.push(Promise.resolve().then(() => h.c.commit(member(p, 1))));
      });
    enlist(ref('main', 1), true);
    const end = enlist(ref('main', 2), true);
    enlist(ref('main', 0), false);
    enlist(ref('other', 0), true);
    end();
    const first = h.c.commit(member(ref('main', 0), 1));
    await tick();
    // Not the one already waiting, not another shard's, not one that left.
    expect(sealed).toEqual(['main.1.1']);
    expect(h.groups).toEqual([['main.1.0', 'main.1.1']]);
    await h.release();
    expect('result' in (await first)).toBe(true);
    expect((await Promise.all(joined)).every((o) => 'result' in o)).toBe(true);
  });

  it('bounds a group by rows; the rest waits for the following transaction', async () => {
    const h = harness(25);
    void h.c.commit(member(ref('main', 0), 1));
    await tick();
    const rest = [0, 1, 2].map((i) => h.c.commit(member(ref('main', i + 1), 10)));
    await h.release();
    expect(h.groups[1]).toEqual(['main.1.1', 'main.1.2']);
    await h.release();
    expect(h.groups[2]).toEqual(['main.1.3']);
    await h.release();
    await Promise.all(rest);
  });

  it('tells every member of a failed group to flush alone, and goes on with the next group', async () => {
    const h = harness();
    void h.c.commit(member(ref('main', 0), 1));
    await tick();
    const a = h.c.commit(member(ref('main', 1), 1));
    const b = h.c.commit(member(ref('main', 2), 1));
    await h.release();
    const boom = new Error('poison in one member');
    h.failures.push(boom);
    await h.release();
    const outcomes: GroupOutcome[] = await Promise.all([a, b]);
    expect(outcomes).toEqual([{ alone: boom }, { alone: boom }]);
    // A lone batch's failure is its own (retried by its batcher as without group commit).
    const lone = h.c.commit(member(ref('main', 3), 1));
    h.failures.push(boom);
    await h.release();
    expect(await lone).toEqual({ failed: boom });
    const next = h.c.commit(member(ref('main', 1), 1));
    await tick();
    expect(h.groups).toHaveLength(4);
    await h.release();
    expect('result' in (await next)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { planShare, STUCK_CHECKS, targetOf, type ShareView } from './fair-share.ts';

const view = (v: Partial<ShareView> & Pick<ShareView, 'me' | 'live' | 'owners'>): ShareView => ({
  freeChecks: v.owners.map(() => 0),
  held: new Set(v.owners.flatMap((o, p) => (o === v.me ? [p] : []))),
  ...v,
});

describe('fair share', () => {
  it('splits P partitions over n writers, the first P mod n by id taking one more', () => {
    expect([0, 1, 2].map((i) => targetOf(i, 3, 4))).toEqual([2, 1, 1]);
    expect([0, 1].map((i) => targetOf(i, 2, 4))).toEqual([2, 2]);
    expect(targetOf(0, 1, 4)).toBe(4);
    expect([0, 1, 2, 3, 4].map((i) => targetOf(i, 5, 4))).toEqual([1, 1, 1, 1, 0]);
  });

  it('a lone writer takes every free partition', () => {
    expect(planShare(view({ me: 'a', live: ['a'], owners: [null, null, null, null] }))).toEqual({ kind: 'acquire', partitions: [0, 1, 2, 3] });
  });

  it('a joining writer takes only free partitions, from its own offset, up to its share', () => {
    const plan = planShare(view({ me: 'b', live: ['a', 'b'], owners: ['a', 'a', null, null] }));
    expect(plan).toEqual({ kind: 'acquire', partitions: [2, 3] });
  });

  it('a writer above its share releases its highest partitions, as many as its peers are short of', () => {
    expect(planShare(view({ me: 'a', live: ['a', 'b'], owners: ['a', 'a', 'a', 'a'] }))).toEqual({ kind: 'release', partitions: [3, 2] });
    expect(planShare(view({ me: 'a', live: ['a', 'b'], owners: ['a', 'a', 'a', 'b'] }))).toEqual({ kind: 'release', partitions: [2] });
    expect(planShare(view({ me: 'a', live: ['a', 'b'], owners: ['a', 'a', 'b', 'b'] }))).toEqual({ kind: 'none' });
    // c is short by 1 (target 1 of 4 among 3); b already has its share.
    expect(planShare(view({ me: 'a', live: ['a', 'b', 'c'], owners: ['a', 'a', 'a', 'b'] }))).toEqual({ kind: 'release', partitions: [2] });
  });

  it('does not take partitions whose dead owner still holds the lease', () => {
    expect(planShare(view({ me: 'a', live: ['a'], owners: ['dead', 'dead', 'a', 'a'] }))).toEqual({ kind: 'none' });
  });

  it('gives a long-free partition to the least-loaded writer even past its share', () => {
    const owners = ['a', 'a', 'b', null];
    const freeChecks = [0, 0, 0, STUCK_CHECKS];
    // b holds 1 of its 2: it is short, but say it cannot start consumers; a is at its share.
    expect(planShare(view({ me: 'b', live: ['a', 'b'], owners, freeChecks }))).toEqual({ kind: 'acquire', partitions: [3] });
    expect(planShare(view({ me: 'a', live: ['a', 'b'], owners, freeChecks }))).toEqual({ kind: 'none' });
  });
});

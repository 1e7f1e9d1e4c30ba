import { describe, expect, it } from 'vitest';
import { splitSuspects } from './suspects.ts';

describe('splitSuspects', () => {
  it('keeps queue order, groups first deliveries and isolates each suspect', () => {
    const runs = splitSuspects(['a', 'b', 'S1', 'S2', 'c', 'S3'], (j) => j.startsWith('S'));
    expect(runs).toEqual([
      { suspect: false, jobs: ['a', 'b'] },
      { suspect: true, jobs: ['S1'] },
      { suspect: true, jobs: ['S2'] },
      { suspect: false, jobs: ['c'] },
      { suspect: true, jobs: ['S3'] },
    ]);
    expect(splitSuspects(['a', 'b'], () => false)).toEqual([{ suspect: false, jobs: ['a', 'b'] }]);
    expect(splitSuspects([], () => true)).toEqual([]);
  });
});

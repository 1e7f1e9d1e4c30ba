import { describe, expect, it } from 'vitest';
import { Linger, after } from './linger.ts';

describe('Linger', () => {
  it('fixed: always the configured wait, whatever the batches', () => {
    const l = new Linger(5, false);
    for (const n of [1, 1, 1, 40, 1]) l.sealed(n, false);
    expect(l.currentMs).toBe(5);
  });

  it('adaptive: starts at zero, goes to the ceiling at the first batch with company, never past it', () => {
    const l = new Linger(8, true);
    expect(l.currentMs).toBe(0);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      l.sealed(3, false);
      seen.push(l.currentMs);
    }
    expect(seen).toEqual([8, 8, 8]);
  });

  it('adaptive: halves after four lone batches in a row, and drops to zero below a sixteenth of the ceiling', () => {
    const l = new Linger(8, true);
    l.sealed(2, false);
    expect(l.currentMs).toBe(8);
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      l.sealed(1, false);
      seen.push(l.currentMs);
    }
    expect(seen).toEqual([8, 8, 8, 4, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0]);
  });

  it('adaptive: under load an occasional lone batch does not shrink the wait', () => {
    const l = new Linger(8, true);
    for (let i = 0; i < 4; i++) l.sealed(2, false);
    // Three lone batches, then company: the count of lone batches starts over.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 3; i++) l.sealed(1, false);
      l.sealed(5, false);
    }
    expect(l.currentMs).toBe(8);
  });

  it('adaptive: a batch sealed because it was full leaves the wait as it was', () => {
    const l = new Linger(8, true);
    l.sealed(500, true);
    expect(l.currentMs).toBe(0);
    for (let i = 0; i < 4; i++) l.sealed(2, false);
    l.sealed(1, true);
    expect(l.currentMs).toBe(8);
  });
});

describe('after', () => {
  it('with 0 runs after the current turn, so what is queued in this turn comes first', async () => {
    const order: string[] = [];
    const done = new Promise<void>((r) => after(0, () => (order.push('timer'), r())));
    order.push('same turn');
    await Promise.resolve().then(() => order.push('microtask'));
    await done;
    expect(order).toEqual(['same turn', 'microtask', 'timer']);
  });

  it('cancels, with and without a wait', async () => {
    let fired = 0;
    after(0, () => fired++)();
    after(1, () => fired++)();
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(0);
  });
});

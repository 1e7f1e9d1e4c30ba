import { describe, expect, it } from 'vitest';
import { Linger, after } from './linger.ts';

describe('Linger', () => {
  it('fixed: always the configured wait, whatever the batches', () => {
    const l = new Linger(5, false);
    for (const n of [1, 1, 1, 40, 1]) l.sealed(n, false);
    expect(l.currentMs).toBe(5);
  });

  it('adaptive: starts at zero, grows to the ceiling while batches gather company, never past it', () => {
    const l = new Linger(8, true);
    expect(l.currentMs).toBe(0);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      l.sealed(3, false);
      seen.push(l.currentMs);
    }
    expect(seen).toEqual([1, 2, 4, 8, 8, 8]);
  });

  it('adaptive: halves while batches stay alone, and drops to zero below a sixteenth of the ceiling', () => {
    const l = new Linger(8, true);
    for (let i = 0; i < 4; i++) l.sealed(2, false);
    expect(l.currentMs).toBe(8);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      l.sealed(1, false);
      seen.push(l.currentMs);
    }
    expect(seen).toEqual([4, 2, 1, 0.5, 0]);
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

import { describe, expect, it } from 'vitest';
import { eventually } from '../../../test/harness/index.ts';
import { backoffMs } from './backoff.ts';
import { Batcher, type BatcherOptions } from './batcher.ts';

interface Item {
  id: number;
  rows: number;
}

/** A batcher whose flush records batches and can be held open or made to fail. */
function harness(o: Partial<BatcherOptions<Item>> = {}) {
  const batches: number[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | undefined;
  let hold = false;
  const failures: unknown[] = [];
  const b = new Batcher<Item>({
    maxRows: 10,
    lingerMs: 5,
    rowsOf: (i) => i.rows,
    retryDelay: () => 1,
    async flush(items) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (hold) await new Promise<void>((r) => (release = r));
        const f = failures.shift();
        if (f) throw f;
        batches.push(items.map((i) => i.id));
      } finally {
        inFlight--;
      }
    },
    ...o,
  });
  return {
    b,
    batches,
    failures,
    maxInFlight: () => maxInFlight,
    hold: () => (hold = true),
    unhold: () => {
      hold = false;
      release?.();
    },
  };
}

const item = (id: number, rows = 1): Item => ({ id, rows });

describe('Batcher', () => {
  it('flushes on linger and keeps submission order', async () => {
    const h = harness();
    await Promise.all([1, 2, 3].map((i) => h.b.submit(item(i))));
    expect(h.batches).toEqual([[1, 2, 3]]);
  });

  it('seals at maxRows without overfilling; an item bigger than maxRows goes alone', async () => {
    const h = harness({ lingerMs: 10_000 });
    // 4+4 fits; +4 would overfill → sealed at 8; 4+6 reaches 10 → sealed; 25 alone → sealed at once.
    await Promise.all([h.b.submit(item(1, 4)), h.b.submit(item(2, 4)), h.b.submit(item(3, 4)), h.b.submit(item(4, 6)), h.b.submit(item(5, 25))]);
    expect(h.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('has one flush in flight; items arriving meanwhile form the next batch', async () => {
    const h = harness();
    h.hold();
    const first = h.b.submit(item(1));
    await eventually(() => expect(h.b.flushing).toBe(true));
    const later = [2, 3, 4].map((i) => h.b.submit(item(i)));
    await new Promise((r) => setTimeout(r, 30)); // well past linger: still one flush in flight
    expect(h.maxInFlight()).toBe(1);
    h.unhold();
    await Promise.all([first, ...later]);
    expect(h.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('retries the same batch after a failure, never reordered or merged', async () => {
    const h = harness();
    h.hold();
    const a = h.b.submit(item(1));
    await eventually(() => expect(h.b.flushing).toBe(true));
    h.failures.push(new Error('deadlock'), new Error('deadlock'));
    const b = h.b.submit(item(2));
    h.unhold();
    await Promise.all([a, b]);
    expect(h.batches).toEqual([[1], [2]]);
  });

  it('rejects the items of a batch it gives up on, and carries on with the next', async () => {
    const h = harness({ retryDelay: (_e, attempt) => (attempt < 2 ? 1 : null) });
    h.failures.push(new Error('x'), new Error('y'));
    const a = h.b.submit(item(1));
    await expect(a).rejects.toThrow('y');
    await h.b.submit(item(2));
    expect(h.batches).toEqual([[2]]);
  });

  it('stop() flushes the open batch at once, waits for it, and returns the same promise', async () => {
    const h = harness({ lingerMs: 10_000 });
    const a = h.b.submit(item(1));
    const s1 = h.b.stop();
    expect(h.b.stop()).toBe(s1);
    await s1;
    await a;
    expect(h.batches).toEqual([[1]]);
    // After stop, a late item (BullMQ may hand over one last job) is still flushed, at once.
    await h.b.submit(item(2));
    expect(h.batches).toEqual([[1], [2]]);
  });

  describe('adaptive linger', () => {
    it('a lone item on a quiet partition goes out without waiting the configured linger', async () => {
      const h = harness({ lingerMs: 2000, adaptiveLinger: true });
      const t0 = performance.now();
      await h.b.submit(item(1));
      // Fixed, this waits 2 s; adaptive starts at zero (one turn of the event loop).
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(h.batches).toEqual([[1]]);
    });

    it('items of the same turn still share a batch, and company sets the next wait to the ceiling', async () => {
      const h = harness({ lingerMs: 40, adaptiveLinger: true, maxRows: 1000 });
      await Promise.all([1, 2, 3].map((i) => h.b.submit(item(i))));
      expect(h.batches).toEqual([[1, 2, 3]]);
      expect(h.b.lingerMs).toBe(40);
    });

    it('company is what the transaction held: a lone item committed with other partitions\' batches counts', async () => {
      let together = 1;
      const b = new Batcher<Item>({ maxRows: 10, lingerMs: 40, adaptiveLinger: true, rowsOf: (i) => i.rows, retryDelay: () => 1, flush: async () => together });
      await b.submit(item(1));
      expect(b.lingerMs).toBe(0);
      together = 3; // group commit: two other partitions' batches in the same transaction
      await b.submit(item(2));
      expect(b.lingerMs).toBe(40);
    });

    it('lone items shrink the wait back to zero (4 lone batches per halving); a full batch leaves it alone', async () => {
      const h = harness({ lingerMs: 40, adaptiveLinger: true, maxRows: 3 });
      for (let round = 0; round < 4; round++) await Promise.all([h.b.submit(item(1)), h.b.submit(item(2))]);
      expect(h.b.lingerMs).toBe(40);
      await Promise.all([1, 2, 3].map((i) => h.b.submit(item(i)))); // sealed full
      expect(h.b.lingerMs).toBe(40);
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) {
        await h.b.submit(item(i));
        if (i % 4 === 3) waits.push(h.b.lingerMs);
      }
      // Every fourth lone batch in a row halves the wait.
      expect(waits).toEqual([20, 10, 5, 2.5, 0]);
    });

    it('while a flush is in flight, items gather into the next batch whatever the wait (order kept)', async () => {
      const h = harness({ lingerMs: 40, adaptiveLinger: true });
      h.hold();
      const first = h.b.submit(item(1));
      await eventually(() => expect(h.b.flushing).toBe(true));
      const later = [2, 3, 4].map((i) => h.b.submit(item(i)));
      await new Promise((r) => setTimeout(r, 10)); // past the zero wait: still one flush in flight
      expect(h.maxInFlight()).toBe(1);
      h.unhold();
      await Promise.all([first, ...later]);
      expect(h.batches).toEqual([[1], [2, 3, 4]]);
    });
  });
});

describe('backoffMs', () => {
  it('grows exponentially with jitter and is capped', () => {
    expect(backoffMs(1, 50, 3000, () => 0)).toBe(25);
    expect(backoffMs(1, 50, 3000, () => 1)).toBe(50);
    expect(backoffMs(4, 50, 3000, () => 1)).toBe(400);
    expect(backoffMs(40, 50, 3000, () => 1)).toBe(3000);
    expect(backoffMs(40, 50, 3000, () => 0)).toBe(1500);
  });
});

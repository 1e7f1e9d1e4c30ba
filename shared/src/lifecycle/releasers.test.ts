import { describe, expect, it } from 'vitest';
import { Releasers } from './releasers.ts';

describe('Releasers', () => {
  it('releases newest first, keeps going past a failure, and returns the same promise each call', async () => {
    const r = new Releasers();
    const order: string[] = [];
    r.add('a', () => order.push('a'));
    r.add('b', () => {
      throw new Error('b failed');
    });
    r.add('c', async () => order.push('c'));
    const failed: string[] = [];
    const p = r.releaseAll((name) => failed.push(name));
    expect(r.releaseAll()).toBe(p);
    const errors = await p;
    expect(order).toEqual(['c', 'a']);
    expect(failed).toEqual(['b']);
    expect(errors.map((e) => e.message)).toEqual(['b failed']);
  });

  it('releases at once what is registered after the release began (a start that outran its shutdown), reporting its failure', async () => {
    const r = new Releasers();
    const failed: string[] = [];
    await r.releaseAll((name) => failed.push(name));
    const released: string[] = [];
    r.add('late', () => released.push('late'));
    r.add('late and broken', () => {
      throw new Error('no');
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toEqual(['late']);
    expect(failed).toEqual(['late and broken']);
  });
});

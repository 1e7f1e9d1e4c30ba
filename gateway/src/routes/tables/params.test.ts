import { describe, expect, it } from 'vitest';
import { ValidationError } from '@sluice/shared/errors/index.ts';
import { tokenFor } from '@sluice/shared/read/tokens.ts';
import { parseInList, parseLimit, parseToken, encodeCursor } from './params.ts';
import { SingleFlight } from '@sluice/shared/read/single-flight.ts';

describe('parseInList (PostgREST in.(…))', () => {
  it('splits on commas, honours quotes and escapes', () => {
    expect(parseInList('(1,2,3)')).toEqual(['1', '2', '3']);
    expect(parseInList('("a,1","b\\"q",c)')).toEqual(['a,1', 'b"q', 'c']);
    expect(parseInList('("x")')).toEqual(['x']);
    expect(parseInList('()')).toEqual([]);
    expect(parseInList('(a,)')).toEqual(['a', '']);
  });

  it('refuses unbalanced input', () => {
    for (const bad of ['1,2', '(1,2', '("a)', '("a"b)']) expect(parseInList(bad)).toBeNull();
  });
});

describe('parseToken', () => {
  it('accepts LSNs as Postgres prints them, bare or per shard, and nothing else', () => {
    expect(parseToken(undefined)).toBeUndefined();
    const bare = parseToken('0/16B3748')!;
    expect(tokenFor(bare, 'main', 'main')).toBe('00000000016B3748');
    expect(tokenFor(bare, 's2', 'main')).toBeUndefined();
    const pairs = parseToken('s1:0/10, s2:0/16B3748,s2:0/9,0/20')!;
    expect(tokenFor(pairs, 's2', 's1')).toBe('00000000016B3748');
    expect(tokenFor(pairs, 's1', 's1')).toBe('0000000000000020'); // the bare LSN is the first shard's too: the higher wins
    expect(tokenFor(pairs, 's3', 's1')).toBeUndefined();
    for (const bad of ['16B3748', '0/16B3748; DROP', 's1:', 'S1:0/1', ':0/1', 's1:0/1,,0/2']) expect(() => parseToken(bad), bad).toThrow(ValidationError);
  });
});

describe('parseLimit and cursors', () => {
  it('bounds the limit', () => {
    expect(parseLimit(undefined, 100, 50)).toBe(50);
    expect(parseLimit('7', 100, 50)).toBe(7);
    for (const bad of ['0', '51', '-1', '1.5', 'x', '']) expect(() => parseLimit(bad, 100, 50)).toThrow(ValidationError);
  });

  it('encodes cursors as URL-safe text', () => {
    expect(encodeCursor(['a/b+c', '1'])).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('SingleFlight', () => {
  it('shares one call among concurrent callers and forgets it when done', async () => {
    const sf = new SingleFlight<number>();
    let calls = 0;
    let open!: (n: number) => void;
    const fn = () => {
      calls++;
      return new Promise<number>((r) => {
        open = r;
      });
    };
    const all = Promise.all([sf.do('k', fn), sf.do('k', fn), sf.do('k', fn)]);
    expect(sf.size).toBe(1);
    open(7);
    expect(await all).toEqual([7, 7, 7]);
    expect(calls).toBe(1);
    expect(sf.size).toBe(0);
    await expect(sf.do('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(sf.size).toBe(0);
  });
});

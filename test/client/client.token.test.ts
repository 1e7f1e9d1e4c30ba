/** Consistency tokens: parsing, per-shard merging, LSN order, the text a session sends. */
import { describe, expect, it } from 'vitest';
import { TokenTracker, compareLsn, formatToken, mergeTokenTexts, parseLsn, parseToken } from '@sluice/client';

describe('LSN order', () => {
  it('compares the two 32-bit halves as numbers, not as text', () => {
    const lsn = (s: string) => parseLsn(s)!;
    expect(compareLsn(lsn('0/9'), lsn('0/10'))).toBeLessThan(0); // "9" > "10" as text
    expect(compareLsn(lsn('0/FFFFFFFF'), lsn('1/0'))).toBeLessThan(0);
    expect(compareLsn(lsn('1/0'), lsn('0/FFFFFFFF'))).toBeGreaterThan(0);
    expect(compareLsn(lsn('0/16b3748'), lsn('0/16B3748'))).toBe(0);
    expect(compareLsn(lsn('FFFFFFFF/FFFFFFFF'), lsn('FFFFFFFF/FFFFFFFE'))).toBeGreaterThan(0);
  });

  it('refuses what is not an LSN', () => {
    for (const bad of ['', '0', '0/', '/1', '0/123456789', 'g/1', '0/1 x', '0/1;select']) expect(parseLsn(bad), bad).toBeNull();
  });
});

describe('tokens', () => {
  it('reads a bare LSN as shard main and pairs as their shards', () => {
    expect(parseToken('0/16B3748')).toEqual(new Map([['main', { hi: 0, lo: 0x16b3748 }]]));
    expect(parseToken('s1:0/16B3748, s2:0/1A00')).toEqual(new Map([['s1', { hi: 0, lo: 0x16b3748 }], ['s2', { hi: 0, lo: 0x1a00 }]]));
    expect(parseToken('s1:0/1,s1:0/9')!.get('s1')).toEqual({ hi: 0, lo: 9 });
    for (const bad of ['', 's1:', 's1:x/1', 'a b:0/1', '0/1,,0/2']) expect(parseToken(bad), bad).toBeNull();
  });

  it('keeps the highest LSN per shard when merging', () => {
    expect(mergeTokenTexts('0/10', '0/9')).toBe('0/10');
    expect(mergeTokenTexts('s1:0/10,s2:1/0', 's2:0/FFFFFFFF,s3:0/5')).toBe('s1:0/10,s2:1/0,s3:0/5');
    expect(mergeTokenTexts(undefined, '0/1A')).toBe('0/1A');
    expect(mergeTokenTexts(undefined, undefined)).toBeUndefined();
    expect(() => mergeTokenTexts('0/1', 'not a token')).toThrow(TypeError);
  });

  it('sends a bare LSN while main is the only shard, else shard:lsn pairs in shard order', () => {
    expect(formatToken(parseToken('main:0/016b3748')!)).toBe('0/16B3748');
    expect(formatToken(parseToken('0/1,s1:0/2')!)).toBe('main:0/1,s1:0/2');
    expect(formatToken(parseToken('s2:0/2,s1:A/1')!)).toBe('s1:A/1,s2:0/2');
    expect(formatToken(new Map())).toBeUndefined();
  });

  it('tracks the newest token it observes and ignores malformed ones from a server', () => {
    const t = new TokenTracker();
    expect(t.value).toBeUndefined();
    t.observe('0/20');
    t.observe('0/1F'); // older: an earlier write's token answered late
    t.observe('garbage');
    t.observe(undefined);
    expect(t.value).toBe('0/20');
    t.observe('s1:0/5');
    expect(t.value).toBe('main:0/20,s1:0/5');
    expect(new TokenTracker('s1:0/7').value).toBe('s1:0/7');
    expect(() => new TokenTracker('nope')).toThrow(TypeError);
  });
});

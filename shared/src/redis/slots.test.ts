import { describe, expect, it } from 'vitest';
import { slotOf } from './slots.ts';

describe('slotOf', () => {
  it('matches Redis CLUSTER KEYSLOT (values from the cluster spec and redis-cli)', () => {
    expect(slotOf('123456789')).toBe(12739); // CRC16 check value 0x31C3 mod 16384
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('bar')).toBe(5061);
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
    expect(slotOf('foo{}{bar}')).toBe(slotOf('foo{}{bar}')); // empty tag: the whole key
    expect(slotOf('foo{{bar}}zap')).toBe(slotOf('{bar'));
    expect(slotOf('t-1:{main.1.3}:wait')).toBe(slotOf('main.1.3'));
  });
});

import { describe, expect, it } from 'vitest';
import { fnv1a32, partitionIndexOf, parsePartitionName, partitionRef } from '../topology/partitions.ts';
import { queueName } from '../partition-log/names.ts';
import { jobIdOf, newNodeId, parseWriteId, writeIdOf } from './ids.ts';

describe('key hashing', () => {
  it('is stable across processes and versions (FNV-1a reference values)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('routes one key to one partition and spreads many keys evenly', () => {
    expect(partitionIndexOf('users', ['42'], 8)).toBe(partitionIndexOf('users', ['42'], 8));
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 80_000; i++) counts[partitionIndexOf('users', [String(i)], 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(9000);
  });

  it('separates composite key parts and tables', () => {
    // ("a,b") and ("a","b") must not collide by construction of the hashed text.
    const whole = fnv1a32('t\u0000a,b');
    const parts = fnv1a32('t\u0000a\u0001b');
    expect(whole).not.toBe(parts);
  });

  it('names partitions <shard>.<epoch>.<index>, one Redis Cluster hash tag each', () => {
    const ref = partitionRef('main', 2, 3);
    expect(ref.name).toBe('main.2.3');
    expect(queueName(ref)).toBe('{main.2.3}');
    expect(parsePartitionName('main.2.3')).toEqual(ref);
    for (const bad of ['', 'main', 'main.1', 'Main.1.1', 'main.x.1', 'main.1.1.1', 'ma:in.1.1']) expect(parsePartitionName(bad)).toBeNull();
  });
});

describe('ids', () => {
  it('round-trips a writeId to its job and partition', () => {
    const node = newNodeId();
    const jobId = jobIdOf('s2.3.7', node, 123_456);
    const writeId = writeIdOf(jobId, 41);
    expect(parseWriteId(writeId)).toEqual({ partition: 's2.3.7', jobId, index: 41 });
  });

  it('makes job ids BullMQ accepts (no ":" and not an integer)', () => {
    const id = jobIdOf('main.1.0', newNodeId(), 0);
    expect(id).not.toContain(':');
    expect(String(parseInt(id, 10))).not.toBe(id);
  });

  it('gives every process start a new node id', () => {
    const ids = new Set(Array.from({ length: 1000 }, newNodeId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]{10}$/);
  });

  it('rejects anything that is not a writeId', () => {
    for (const bad of ['', 'x', '1;DROP', 'p1.abc', 'main.1.1.abc.1.1.1', "main.1.1.a'b.1.1", 'main.1.99999.ab.1.1', 'p1.ab.1.1']) expect(parseWriteId(bad)).toBeNull();
  });
});

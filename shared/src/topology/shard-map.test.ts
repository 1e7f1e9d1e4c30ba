import { describe, expect, it } from 'vitest';
import { partitionIndexOf } from './partitions.ts';
import { initialDoc, ShardMap, ShardMapError } from './shard-map.ts';

const names = (refs: readonly { name: string }[]) => refs.map((r) => r.name);

describe('shard map', () => {
  it('starts with one open epoch per shard; every key of a table routes to one partition of it', () => {
    const m = new ShardMap(1, initialDoc(['main'], 4));
    expect(m.metaShard).toBe('main');
    expect(m.shardOf('events', 7)).toBe('main');
    expect(m.partitionOf('main', 'events', ['7']).name).toBe(`main.1.${partitionIndexOf('events', ['7'], 4)}`);
    expect(names(m.routable('main'))).toEqual(['main.1.0', 'main.1.1', 'main.1.2', 'main.1.3']);
    expect(names(m.consumable())).toEqual(names(m.routable('main')));
    expect(names(m.live())).toEqual(names(m.routable('main')));
    // Built once per map (asked on every write), and a keyed write gets one of the same refs.
    expect(m.routable('main')).toBe(m.routable('main'));
    expect(m.routable('main')).toContain(m.partitionOf('main', 'events', ['7']));
  });

  it('a new partition count opens a new epoch: gateways route to it, writers consume the old one until it closes', () => {
    const v1 = new ShardMap(1, initialDoc(['main'], 8));
    const v2 = new ShardMap(2, v1.withPartitions('main', 4, 2));
    expect(v2.currentEpoch('main')).toEqual({ epoch: 2, partitions: 4, state: 'open', since: 2 });
    expect(v2.partitionOf('main', 'kv', ['a']).epoch).toBe(2);
    expect(names(v2.consumable())).toEqual(names(v1.routable('main'))); // the 8 old partitions first
    expect(v2.live()).toHaveLength(12);
    expect(v2.openEpochs('main').map((e) => e.epoch)).toEqual([1, 2]);
    // The old epoch drains and closes: now the writers consume the new one.
    const v3 = new ShardMap(3, v2.withClosed('main', 1));
    expect(names(v3.consumable())).toEqual(['main.2.0', 'main.2.1', 'main.2.2', 'main.2.3']);
    expect(v3.live()).toHaveLength(4);
    // Names of a closed epoch still resolve (write statuses of old jobs), others do not.
    expect(v3.partition('main.1.7')?.epoch).toBe(1);
    expect(v3.partition('main.1.8')).toBeNull();
    expect(v3.partition('main.9.0')).toBeNull();
    expect(v3.partition('other.1.0')).toBeNull();
    // Earlier versions are untouched (maps are values).
    expect(v2.openEpochs('main')).toHaveLength(2);
  });

  it('several changes queue up as epochs, consumed strictly oldest first', () => {
    let m = new ShardMap(1, initialDoc(['main'], 2));
    m = new ShardMap(2, m.withPartitions('main', 3, 2));
    m = new ShardMap(3, m.withPartitions('main', 5, 3));
    expect(m.openEpochs('main').map((e) => [e.epoch, e.partitions, e.since])).toEqual([[1, 2, 1], [2, 3, 2], [3, 5, 3]]);
    expect(m.consumable().every((r) => r.epoch === 1)).toBe(true);
    m = new ShardMap(4, m.withClosed('main', 1));
    expect(m.consumable().every((r) => r.epoch === 2)).toBe(true);
    expect(m.routable('main').every((r) => r.epoch === 3)).toBe(true);
  });

  it('refuses maps that break the rules, and closing the current epoch', () => {
    const m = new ShardMap(1, initialDoc(['main'], 2));
    expect(() => m.withClosed('main', 1)).toThrow(ShardMapError);
    expect(() => new ShardMap(1, { shards: {} })).toThrow(/at least one shard/);
    expect(() => new ShardMap(1, initialDoc(['Main'], 2))).toThrow(/bad shard name/);
    expect(() => new ShardMap(1, initialDoc(['main'], 0))).toThrow(/partition count/);
    expect(() => new ShardMap(1, { shards: { main: { epochs: [{ epoch: 1, partitions: 2, state: 'closed', since: 1 }] } } })).toThrow(/last epoch must be open/);
  });
});

import { describe, expect, it } from 'vitest';
import type { ColumnInfo, ColumnKind, TableInfo } from '../../catalog/types.ts';
import { decodeEntry, encodeEntry, ENTRY_HEADER } from './entry.ts';
import { isCacheable, keysOfId, parseRowId, rowId, rowKeys } from './keys.ts';
import { isLsn, lsnBefore, lsnDistance, lsnKey, lsnText, maxLsn, LSN_ZERO } from './lsn.ts';
import { entryFor, jitter } from './store.ts';

describe('LSN keys', () => {
  it('pads both halves so string order is numeric order', () => {
    expect(lsnKey('0/16B3748')).toBe('00000000016B3748');
    expect(lsnKey('1/0')).toBe('0000000100000000');
    expect(lsnKey('0/ffffffff')! < lsnKey('1/0')!).toBe(true);
    expect(lsnKey('0/9')! < lsnKey('0/10')!).toBe(true); // "9" > "10" as plain strings
    expect(lsnText(lsnKey('0/16b3748')!)).toBe('0/16B3748');
    expect(lsnText(LSN_ZERO)).toBe('0/0');
  });

  it('rejects what is not an LSN', () => {
    for (const bad of ['', '0', '0/', '/1', '0/123456789', 'g/1', '0/1 ', '0/1;select']) {
      expect(isLsn(bad)).toBe(false);
      expect(lsnKey(bad)).toBeNull();
    }
  });

  it('steps one byte back across the halves and measures distance', () => {
    expect(lsnBefore(lsnKey('1/0')!)).toBe('00000000FFFFFFFF');
    expect(lsnBefore(LSN_ZERO)).toBe(LSN_ZERO);
    expect(lsnDistance(lsnKey('0/100')!, lsnKey('0/180')!)).toBe(0x80);
    expect(lsnDistance(lsnKey('0/180')!, lsnKey('0/100')!)).toBe(0);
    expect(maxLsn(undefined, '0000000000000001')).toBe('0000000000000001');
    expect(maxLsn('0000000000000002', '0000000000000001')).toBe('0000000000000002');
  });
});

describe('cache entries', () => {
  it('round-trips rows, negatives and fences', () => {
    const lsn = lsnKey('0/16B3748')!;
    const v = encodeEntry('v', lsn, 1_700_000_000_123, '{"id":1}');
    expect(v.length).toBe(ENTRY_HEADER + 8);
    expect(decodeEntry(v)).toEqual({ kind: 'v', lsn, softUntil: 1_700_000_000_123, body: '{"id":1}' });
    expect(decodeEntry(encodeEntry('n', lsn, 5))).toEqual({ kind: 'n', lsn, softUntil: 5, body: '' });
    expect(decodeEntry(encodeEntry('f', lsn, 5, 'ignored'))?.body).toBe('');
  });

  it('treats anything else as a miss', () => {
    for (const raw of [null, undefined, '', 'x'.repeat(40), 'v0000']) expect(decodeEntry(raw)).toBeNull();
  });

  it('gives tombstones the long TTL and negatives the short one', () => {
    const ttls = { ttlMs: 300_000, softTtlMs: 30_000, negativeTtlMs: 5_000, jitterPct: 0 };
    expect(entryFor(ttls, LSN_ZERO, null, true, 0).ttlMs).toBe(300_000);
    const neg = entryFor(ttls, LSN_ZERO, null, false, 0);
    expect(neg.ttlMs).toBe(5_000);
    expect(decodeEntry(neg.value)?.softUntil).toBe(5_000);
    const row = entryFor(ttls, LSN_ZERO, '{}', false, 0);
    expect(row.ttlMs).toBe(300_000);
    expect(decodeEntry(row.value)).toMatchObject({ kind: 'v', softUntil: 30_000, body: '{}' });
  });

  it('jitters within the percentage', () => {
    for (let i = 0; i < 1000; i++) {
      const j = jitter(1000, 10);
      expect(j).toBeGreaterThanOrEqual(900);
      expect(j).toBeLessThanOrEqual(1100);
    }
    expect(jitter(1000, 0)).toBe(1000);
  });
});

function table(kinds: [ColumnKind, string][]): TableInfo {
  const columns: ColumnInfo[] = kinds.map(([kind, castType], i) => ({ name: `c${i}`, quoted: `"c${i}"`, type: castType, castType, kind, notNull: true, hasDefault: false, generatedAlways: false }));
  return { name: 't', schema: 'public', table: 't', qualified: '"public"."t"', columns, byName: new Map(columns.map((c) => [c.name, c])), primaryKey: columns };
}

describe('cache keys', () => {
  it('shares one hash tag between entry and lease, per row', () => {
    const k = rowKeys('sl', 'users', ['42']);
    expect(k).toEqual({ entry: 'sl:c:{users|42}', lease: 'sl:cl:{users|42}', id: 'users|42' });
    expect(keysOfId('sl', k.id)).toEqual(k);
  });

  it('keeps composite keys and separators unambiguous', () => {
    expect(rowId('t', ['a,b'])).not.toBe(rowId('t', ['a', 'b']));
    expect(parseRowId(rowId('s.t|x', ['a,b', 'c|d', '%']))).toEqual({ table: 's.t|x', key: ['a,b', 'c|d', '%'] });
    expect(parseRowId('nobar')).toBeNull();
    expect(parseRowId('t|%E0%A4%A')).toBeNull();
  });

  it('caches only keys with one spelling per value', () => {
    expect(isCacheable(table([['int8', 'bigint'], ['uuid', 'uuid']]))).toBe(true);
    expect(isCacheable(table([['text', 'text']]))).toBe(true);
    expect(isCacheable(table([['text', 'character varying']]))).toBe(true);
    expect(isCacheable(table([['text', 'citext']]))).toBe(false);
    expect(isCacheable(table([['text', 'bpchar']]))).toBe(false);
    expect(isCacheable(table([['numeric', 'numeric']]))).toBe(false);
    expect(isCacheable(table([['int4', 'integer'], ['timestamp', 'timestamp with time zone']]))).toBe(false);
  });
});

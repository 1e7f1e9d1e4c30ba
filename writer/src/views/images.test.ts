import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import { imagePlan } from './images.ts';

const col = (name: string, kind: ColumnInfo['kind'], castType: string): ColumnInfo => ({ name, quoted: `"${name}"`, type: castType, castType, kind, notNull: true, hasDefault: false, generatedAlways: false });
const id = [col('id', 'int8', 'bigint')];
const req = (op: WriteRequest['ops'][number]): WriteRequest => ({ id: Math.random().toString(36), ops: [op] });
const insert = (key: string) => ({ t: 'ev', op: 'insert' as const, row: { id: key, amount: '1' } });

describe('imagePlan', () => {
  it('is null when no op names a key of the table (inserts count their own values)', () => {
    expect(imagePlan([req(insert('1')), req({ t: 'other', op: 'delete', key: ['1'] })], 'ev', id)).toBeNull();
  });

  it('reads back only the inserts whose row another op of the batch names, whatever the spelling of an integer key', () => {
    const a = insert('7');
    const b = insert('8');
    const plan = imagePlan([req(a), req(b), req({ t: 'ev', op: 'update', key: ['007'], row: { amount: '2' } })], 'ev', id)!;
    expect(plan.keys).toEqual([['007']]);
    expect(plan.imaged(a)).toBe(true);
    expect(plan.imaged(b)).toBe(false);
  });

  it('reads back every insert carrying its key when some key has no canonical text', () => {
    const a = insert('9');
    const plan = imagePlan([req(a), req({ t: 'ev', op: 'delete', key: ['0x10'] })], 'ev', id)!;
    expect(plan.imaged(a)).toBe(true);
  });

  it('compares uuids case-insensitively and refuses to guess for char(n)', () => {
    const u = [col('id', 'uuid', 'uuid')];
    const a = { t: 'ev', op: 'insert' as const, row: { id: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' } };
    expect(imagePlan([req(a), req({ t: 'ev', op: 'delete', key: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'] })], 'ev', u)!.imaged(a)).toBe(true);
    const c = [col('id', 'text', 'bpchar')];
    const x = { t: 'ev', op: 'insert' as const, row: { id: 'x' } };
    expect(imagePlan([req(x), req({ t: 'ev', op: 'delete', key: ['y'] })], 'ev', c)!.imaged(x)).toBe(true);
  });
});

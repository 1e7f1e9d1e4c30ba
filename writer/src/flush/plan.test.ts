import { describe, expect, it } from 'vitest';
import type { Catalog, ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import { firstOccurrences } from './dedupe.ts';
import { planStatements, type StatementGroup } from './plan.ts';
import type { BatchJob } from './types.ts';

/** A catalog entry as introspection would build it (plain data). */
function table(name: string, columns: string[], pk: string[]): TableInfo {
  const cols: ColumnInfo[] = columns.map((c) => ({ name: c, quoted: `"${c}"`, type: 'text', castType: 'text', kind: 'text', notNull: false, hasDefault: false, generatedAlways: false }));
  return { name, schema: 'public', table: name, qualified: `"public"."${name}"`, columns: cols, byName: new Map(cols.map((c) => [c.name, c])), primaryKey: cols.filter((c) => pk.includes(c.name)) };
}

const catalog: Catalog = new Map([
  ['users', table('users', ['id', 'name', 'email'], ['id'])],
  ['events', table('events', ['id', 'kind', 'payload'], ['id'])],
  ['members', table('members', ['org', 'user', 'role'], ['org', 'user'])],
]);

const req = (...ops: WriteOp[]) => ({ ops });
const ins = (t: string, row: Record<string, string | null>): WriteOp => ({ t, op: 'insert', row });
const ups = (t: string, row: Record<string, string | null>): WriteOp => ({ t, op: 'upsert', row });
const upd = (t: string, key: string[], row: Record<string, string | null>): WriteOp => ({ t, op: 'update', key, row });
const del = (t: string, key: string[]): WriteOp => ({ t, op: 'delete', key });

/** Compact view of a plan: "op table [req.op …]". */
const show = (groups: StatementGroup[]) => groups.map((g) => `${g.op} ${g.table.name}(${g.columns.map((c) => c.name).join(',')}) ${g.rows.map((r) => `${r.req}.${r.op}`).join(' ')}`);

describe('planStatements', () => {
  it('groups rows by (table, op, column set), whatever the key order of each row', () => {
    const plan = planStatements(catalog, [
      req(ins('users', { id: '1', name: 'a' })),
      req(ins('users', { name: 'b', id: '2' })),
      req(ins('users', { id: '3', name: 'c', email: 'c@x' })),
      req(ins('events', { id: '1', kind: 'k' })),
      req(ins('users', { id: '4', name: 'd' })),
    ]);
    expect(show(plan)).toEqual(['insert users(id,name) 0.0 1.0 4.0', 'insert users(id,name,email) 2.0', 'insert events(id,kind) 3.0']);
  });

  it('keeps insert → update → delete of one key in three ordered statements, other keys joining them', () => {
    const plan = planStatements(catalog, [
      req(ins('users', { id: '1', name: 'a' }), ins('users', { id: '2', name: 'b' })),
      req(upd('users', ['1'], { name: 'a2' })),
      req(upd('users', ['2'], { name: 'b2' }), del('users', ['1'])),
      req(ins('users', { id: '3', name: 'c' })),
    ]);
    expect(show(plan)).toEqual(['insert users(id,name) 0.0 0.1 3.0', 'update users(name) 1.0 2.0', 'delete users() 2.1']);
  });

  it('splits two upserts of one key into ordered statements (no SQLSTATE 21000)', () => {
    const reqs = [
      req(ups('users', { id: '7', name: 'first' })),
      req(ups('users', { id: '8', name: 'other' })),
      req(ups('users', { id: '7', name: 'second' })),
      req(ups('users', { id: '9', name: 'joins the second' })),
      req(ups('users', { id: '8', name: 'other again' })),
    ];
    const plan = planStatements(catalog, reqs);
    expect(show(plan)).toEqual(['upsert users(id,name) 0.0 1.0', 'upsert users(id,name) 2.0 3.0 4.0']);
    for (const g of plan) {
      const keys = g.rows.map((r) => reqs[r.req]!.ops[r.op]!.row!.id);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it('never puts one key twice in a statement, and never moves a write before an earlier one to its key', () => {
    // A long random sequence over few keys: check the invariants rather than a fixed shape.
    const ops: WriteOp[] = [];
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let i = 0; i < 500; i++) {
      const k = String(rnd(10));
      const kind = rnd(4);
      ops.push(kind === 0 ? ins('users', { id: k, name: 'n' }) : kind === 1 ? ups('users', { id: k, name: 'u' }) : kind === 2 ? upd('users', [k], { name: 'p' }) : del('users', [k]));
    }
    const plan = planStatements(catalog, ops.map((o) => req(o)));
    const groupOf = new Map<number, number>();
    plan.forEach((g, gi) => {
      const keys = g.rows.map((r) => (ops[r.req]!.key ?? [ops[r.req]!.row!.id])[0]);
      expect(new Set(keys).size).toBe(keys.length);
      for (const r of g.rows) groupOf.set(r.req, gi);
    });
    const lastGroupOfKey = new Map<string, number>();
    ops.forEach((o, i) => {
      const k = (o.key ?? [o.row!.id])[0]!;
      const g = groupOf.get(i)!;
      expect(g).toBeGreaterThan(lastGroupOfKey.get(k) ?? -1);
      lastGroupOfKey.set(k, g);
    });
  });

  it('always groups keyless rows (generated primary keys), even past key splits', () => {
    const plan = planStatements(catalog, [
      req(ins('events', { kind: 'a' })),
      req(ins('events', { id: '5', kind: 'keyed' })),
      req(ins('events', { kind: 'b' })),
      req(upd('events', ['5'], { kind: 'x' })),
      req(ins('events', { kind: 'c' }), ins('events', { kind: 'd' })),
    ]);
    expect(show(plan)).toEqual(['insert events(kind) 0.0 2.0 4.0 4.1', 'insert events(id,kind) 1.0', 'update events(kind) 3.0']);
  });

  it('uses composite keys in key-column order', () => {
    const plan = planStatements(catalog, [
      req(ups('members', { org: 'o', user: 'u', role: 'r1' })),
      req(ups('members', { org: 'o', user: 'v', role: 'r1' })),
      req(ups('members', { user: 'u', org: 'o', role: 'r2' })),
    ]);
    expect(show(plan)).toEqual(['upsert members(org,user,role) 0.0 1.0', 'upsert members(org,user,role) 2.0']);
  });
});

describe('firstOccurrences (job dedupe inside a batch)', () => {
  const job = (id: string): BatchJob => ({ id, data: { v: 1, reqs: [] }, rows: 0, attempts: 1 });
  it('keeps the first copy of a job id and reports later copies as repeats, in order', () => {
    const { unique, repeats } = firstOccurrences([job('a'), job('b'), job('a'), job('c'), job('b')]);
    expect(unique.map((j) => j.id)).toEqual(['a', 'b', 'c']);
    expect(repeats.map((j) => j.id)).toEqual(['a', 'b']);
  });
});

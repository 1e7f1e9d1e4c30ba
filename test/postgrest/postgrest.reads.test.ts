/**
 * postgrest-js reads, unchanged, against a real gateway and writer: every
 * read of Sluice's PostgREST subset, each answer compared with the same
 * query run on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientStack } from '../client/support.ts';
import { dbRows, pgrst, startPostgrestStack } from './support.ts';

let stack: ClientStack;
type Item = { id: number; kind: string; qty: number; note: string | null; big: number | null; doubled: number };

/** The items as Postgres has them (row_to_json, as PostgREST and Sluice render rows). */
async function fromDb(where: string, params: unknown[] = []): Promise<Item[]> {
  return (await dbRows(stack, `SELECT row_to_json(i.*) AS j FROM items i ${where}`, params)).map((r) => r.j as Item);
}

beforeAll(async () => {
  stack = await startPostgrestStack();
  const rows = Array.from({ length: 12 }, (_, i) => ({ id: i + 1, kind: i % 3 === 0 ? 'a' : 'b', qty: i, note: i === 4 ? 'four' : null }));
  const r = await pgrst(stack).from('items').insert(rows).select('id');
  expect(r.error).toBeNull();
  await pgrst(stack).from('pairs').insert([{ tenant: 'acme', seq: 1, v: 'x' }, { tenant: 'acme', seq: 2, v: 'y' }, { tenant: 'zeta', seq: 1, v: 'z' }]).select();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

describe('postgrest-js select', () => {
  it('eq on the key: one row through the cache; select with renames', async () => {
    const r = await pgrst(stack).from('items').select('ident:id, kind, "qty"').eq('id', 5);
    expect(r.error).toBeNull();
    const [db] = await fromDb('WHERE id = 5');
    expect(r.data).toEqual([{ ident: db!.id, kind: db!.kind, qty: db!.qty }]);
  });

  it('single() and maybeSingle(): one object; 406 PGRST116 when no row; null for maybeSingle', async () => {
    expect((await pgrst(stack).from('items').select().eq('id', 7).single()).data).toEqual((await fromDb('WHERE id = 7'))[0]);
    const none = await pgrst(stack).from('items').select().eq('id', 999).single();
    expect(none.status).toBe(406);
    expect(none.error).toMatchObject({ code: 'PGRST116' });
    const maybe = await pgrst(stack).from('items').select().eq('id', 999).maybeSingle();
    expect(maybe.error).toBeNull();
    expect(maybe.data).toBeNull();
  });

  it('in() on the key: the rows that exist; order() sorts them', async () => {
    const r = await pgrst(stack).from('items').select('id, qty').in('id', [9, 2, 500, 4]).order('id', { ascending: false });
    expect(r.data).toEqual((await fromDb('WHERE id IN (9, 2, 4) ORDER BY id DESC')).map((x) => ({ id: x.id, qty: x.qty })));
  });

  it('eq on an indexed column, ordered by the key both ways, with limit', async () => {
    const asc = await pgrst(stack).from('items').select().eq('kind', 'b').order('id').limit(3);
    expect(asc.data).toEqual(await fromDb("WHERE kind = 'b' ORDER BY id LIMIT 3"));
    const desc = await pgrst(stack).from('items').select().eq('kind', 'b').order('id', { ascending: false }).limit(3);
    expect(desc.data).toEqual(await fromDb("WHERE kind = 'b' ORDER BY id DESC LIMIT 3"));
  });

  it('keyset paging with gt() / lt() on the key, and range() within one page', async () => {
    const page = await pgrst(stack).from('items').select('id').gt('id', 4).order('id').limit(3);
    expect(page.data).toEqual([{ id: 5 }, { id: 6 }, { id: 7 }]);
    const down = await pgrst(stack).from('items').select('id').lt('id', 4).order('id', { ascending: false });
    expect(down.data).toEqual([{ id: 3 }, { id: 2 }, { id: 1 }]);
    const range = await pgrst(stack).from('items').select().order('id').range(2, 4);
    expect(range.data).toEqual(await fromDb('ORDER BY id OFFSET 2 LIMIT 3'));
  });

  it('a whole table, in key order; an offset alone takes the rest of the page; in.() of nothing finds nothing', async () => {
    const r = await pgrst(stack).from('items').select();
    expect(r.data).toEqual(await fromDb('ORDER BY id'));
    const rest = await fetch(`${stack.url}/v1/tables/items?select=id&offset=10`);
    expect(await rest.json()).toEqual((await fromDb('ORDER BY id OFFSET 10')).map((x) => ({ id: x.id })));
    expect(rest.headers.get('content-range')).toBe('10-11/*');
    const none = await pgrst(stack).from('items').select().in('id', []);
    expect(none.error).toBeNull();
    expect(none.data).toEqual([]);
  });

  it('a composite key: eq on both columns is a lookup, eq on the leading one a list', async () => {
    expect((await pgrst(stack).from('pairs').select().eq('tenant', 'acme').eq('seq', 2).single()).data).toEqual({ tenant: 'acme', seq: 2, v: 'y' });
    const list = await pgrst(stack).from('pairs').select('seq, v').eq('tenant', 'acme').order('tenant').order('seq', { ascending: true });
    expect(list.data).toEqual((await dbRows(stack, "SELECT seq, v FROM pairs WHERE tenant = 'acme' ORDER BY tenant, seq")));
  });

  it('count: exact for rows looked up by key; a 400 for a list (it would need a scan)', async () => {
    const r = await pgrst(stack).from('items').select('id', { count: 'exact' }).in('id', [1, 2, 3, 404]);
    expect(r.count).toBe(3);
    const list = await pgrst(stack).from('items').select('id', { count: 'exact' }).eq('kind', 'a');
    expect(list.status).toBe(400);
  });

  it('filters, orders and selects outside the subset are a 400 naming what is supported', async () => {
    const cases = [
      pgrst(stack).from('items').select().eq('qty', 3), // not indexed
      pgrst(stack).from('items').select().like('kind', 'a%'),
      pgrst(stack).from('items').select().neq('id', 1),
      pgrst(stack).from('items').select().order('qty'),
      pgrst(stack).from('items').select().or('id.eq.1,id.eq.2'),
      pgrst(stack).from('items').select('id, other(*)'),
      pgrst(stack).from('items').select().eq('kind', 'a').eq('note', 'x'),
    ];
    for (const r of await Promise.all(cases)) {
      expect(r.status).toBe(400);
      expect(r.error).toMatchObject({ type: 'https://sluice.dev/problems/validation' });
      expect(JSON.stringify(r.error)).toMatch(/Sluice (serves|selects)/);
    }
  });
});

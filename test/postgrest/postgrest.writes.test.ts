/**
 * postgrest-js writes, unchanged, against a real gateway and writer: every
 * operation of Sluice's PostgREST subset, each checked in Postgres after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientStack } from '../client/support.ts';
import { eventually } from '../harness/index.ts';
import { dbRows, pgrst, startPostgrestStack } from './support.ts';

let stack: ClientStack;

beforeAll(async () => {
  stack = await startPostgrestStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

const item = (stack: ClientStack, id: unknown) => dbRows(stack, 'SELECT id::int AS id, kind, qty, note, doubled FROM items WHERE id = $1', [id]);

describe('postgrest-js inserts and upserts', () => {
  it('insert() is queued (202) and lands in Postgres', async () => {
    const r = await pgrst(stack).from('items').insert({ id: 1, kind: 'queued', qty: 2 });
    expect(r.error).toBeNull();
    expect(r.status).toBe(202);
    // The assertion inside: `eventually` retries only what throws.
    await eventually(async () => expect((await item(stack, 1))[0]).toEqual({ id: 1, kind: 'queued', qty: 2, note: null, doubled: 4 }));
  });

  it('insert([...]).select() waits for the commit and returns the rows written, generated columns included', async () => {
    const r = await pgrst(stack).from('items').insert([{ kind: 'rep', qty: 1 }, { kind: 'rep', qty: 3, note: 'n' }]).select();
    expect(r.error).toBeNull();
    expect(r.status).toBe(201);
    const rows = r.data as { id: number; kind: string; qty: number; doubled: number }[];
    expect(rows.map((x) => [x.kind, x.qty, x.doubled])).toEqual([['rep', 1, 2], ['rep', 3, 6]]);
    // committed before the answer: no waiting needed
    const inDb = await dbRows(stack, 'SELECT id::int AS id, qty FROM items WHERE id = ANY($1) ORDER BY id', [rows.map((x) => x.id)]);
    expect(inDb).toEqual(rows.map((x) => ({ id: x.id, qty: x.qty })));
  });

  it('select() with renames and single() on an insert of one row: one object', async () => {
    const r = await pgrst(stack).from('items').insert({ id: 10, kind: 'single', qty: 5 }).select('key:id, kind, twice:doubled').single();
    expect(r.error).toBeNull();
    expect(r.data).toEqual({ key: 10, kind: 'single', twice: 10 });
    expect(await item(stack, 10)).toEqual([{ id: 10, kind: 'single', qty: 5, note: null, doubled: 10 }]);
  });

  it('upsert() merges duplicates on the primary key (on_conflict=id)', async () => {
    await pgrst(stack).from('items').insert({ id: 20, kind: 'before', qty: 1 }).select();
    const r = await pgrst(stack).from('items').upsert({ id: 20, kind: 'after', qty: 7 }, { onConflict: 'id' }).select();
    expect(r.error).toBeNull();
    expect(r.data).toEqual([{ id: 20, kind: 'after', qty: 7, note: null, big: null, doubled: 14 }]);
    expect(await item(stack, 20)).toEqual([{ id: 20, kind: 'after', qty: 7, note: null, doubled: 14 }]);
  });

  it('upsert({ ignoreDuplicates }) keeps existing rows and inserts new ones; the rows returned are those inserted', async () => {
    await pgrst(stack).from('items').insert({ id: 30, kind: 'kept', qty: 1 }).select();
    const r = await pgrst(stack).from('items').upsert([{ id: 30, kind: 'ignored', qty: 9 }, { id: 31, kind: 'new', qty: 2 }], { ignoreDuplicates: true }).select('id, kind');
    expect(r.error).toBeNull();
    expect(r.data).toEqual([{ id: 31, kind: 'new' }]);
    expect(await dbRows(stack, 'SELECT id::int AS id, kind FROM items WHERE id IN (30, 31) ORDER BY id')).toEqual([{ id: 30, kind: 'kept' }, { id: 31, kind: 'new' }]);
  });

  it('upsert on another conflict target is a 400 naming the key; nothing is written', async () => {
    const r = await pgrst(stack).from('items').upsert({ id: 40, kind: 'x' }, { onConflict: 'kind' });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.error)).toContain('on_conflict=id');
    expect(await item(stack, 40)).toEqual([]);
  });

  it('count: exact on a committed write gives the rows affected', async () => {
    const r = await pgrst(stack).from('items').insert([{ kind: 'counted' }, { kind: 'counted' }], { count: 'exact' }).select('id');
    expect(r.error).toBeNull();
    expect(r.count).toBe(2);
    expect(Number((await dbRows(stack, "SELECT count(*) AS n FROM items WHERE kind = 'counted'"))[0]!.n)).toBe(2);
  });

  it('a composite key: upsert then read back by both key columns', async () => {
    const r = await pgrst(stack).from('pairs').upsert({ tenant: 'acme', seq: 1, v: 'one' }).select().single();
    expect(r.data).toEqual({ tenant: 'acme', seq: 1, v: 'one' });
    expect(await dbRows(stack, 'SELECT tenant, seq, v FROM pairs')).toEqual([{ tenant: 'acme', seq: 1, v: 'one' }]);
  });
});

describe('postgrest-js updates and deletes by filter on the key', () => {
  beforeAll(async () => {
    await pgrst(stack).from('items').insert([100, 101, 102, 103, 104].map((id) => ({ id, kind: 'u', qty: id }))).select('id');
  });

  it('update().eq(key) is queued and applied', async () => {
    const r = await pgrst(stack).from('items').update({ note: 'patched' }).eq('id', 100);
    expect(r.error).toBeNull();
    expect(r.status).toBe(202);
    await eventually(async () => expect((await item(stack, 100))[0]?.note).toBe('patched'));
  });

  it('update().in(key).select() updates every named row and returns them', async () => {
    const r = await pgrst(stack).from('items').update({ qty: 0 }).in('id', [101, 102, 999]).select('id, qty, doubled');
    expect(r.error).toBeNull();
    expect(r.data).toEqual([{ id: 101, qty: 0, doubled: 0 }, { id: 102, qty: 0, doubled: 0 }]);
    expect(await dbRows(stack, 'SELECT id::int AS id, qty FROM items WHERE id IN (101, 102) ORDER BY id')).toEqual([{ id: 101, qty: 0 }, { id: 102, qty: 0 }]);
  });

  it('delete().eq(key).select() returns the row deleted; it is gone', async () => {
    const r = await pgrst(stack).from('items').delete().eq('id', 103).select('id, qty');
    expect(r.error).toBeNull();
    expect(r.data).toEqual([{ id: 103, qty: 103 }]);
    expect(await item(stack, 103)).toEqual([]);
  });

  it('delete().in(key) is queued and removes every named row', async () => {
    const r = await pgrst(stack).from('items').delete().in('id', [104, 100]);
    expect(r.status).toBe(202);
    await eventually(async () => expect(await dbRows(stack, 'SELECT id FROM items WHERE id IN (100, 104)')).toEqual([]));
  });

  it('a composite key: update and delete by eq. on both key columns', async () => {
    await pgrst(stack).from('pairs').insert({ tenant: 't', seq: 2, v: 'a' }).select();
    const u = await pgrst(stack).from('pairs').update({ v: 'b' }).eq('tenant', 't').eq('seq', 2).select().single();
    expect(u.data).toEqual({ tenant: 't', seq: 2, v: 'b' });
    const d = await pgrst(stack).from('pairs').delete().eq('tenant', 't').eq('seq', 2).select();
    expect(d.data).toEqual([{ tenant: 't', seq: 2, v: 'b' }]);
    expect(await dbRows(stack, "SELECT * FROM pairs WHERE tenant = 't'")).toEqual([]);
  });

  it('filters that would need a scan are a 400 naming what is supported; nothing is written', async () => {
    const byKind = await pgrst(stack).from('items').update({ note: 'no' }).eq('kind', 'u');
    expect(byKind.status).toBe(400);
    expect(JSON.stringify(byKind.error)).toContain('id=eq.');
    const none = await pgrst(stack).from('items').delete().gt('id', 0);
    expect(none.status).toBe(400);
    const partial = await pgrst(stack).from('pairs').delete().eq('tenant', 'acme');
    expect(partial.status).toBe(400);
    expect(await dbRows(stack, "SELECT count(*)::int AS n FROM items WHERE note = 'no'")).toEqual([{ n: 0 }]);
    expect(await dbRows(stack, "SELECT count(*)::int AS n FROM pairs WHERE tenant = 'acme'")).toEqual([{ n: 1 }]);
  });
});

describe('Prefer headers postgrest-js does not send by itself', () => {
  it('return=minimal answers without a body; a committed ack with 201', async () => {
    const res = await fetch(`${stack.url}/v1/tables/tags`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'return=minimal', 'sluice-ack': 'committed' },
      body: JSON.stringify({ name: 'min', n: 1 }),
    });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('');
    expect(res.headers.get('preference-applied')).toBe('return=minimal');
    expect(res.headers.get('sluice-consistency-token')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await dbRows(stack, 'SELECT name, n FROM tags')).toEqual([{ name: 'min', n: 1 }]);
  });

  it('return=representation with Sluice-Ack: queued is a 400 (it must wait for the commit)', async () => {
    const r = await pgrst(stack, { 'Sluice-Ack': 'queued' }).from('tags').insert({ name: 'never', n: 1 }).select();
    expect(r.status).toBe(400);
    expect(await dbRows(stack, "SELECT name FROM tags WHERE name = 'never'")).toEqual([]);
  });
});

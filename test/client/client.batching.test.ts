/**
 * Client-side batching against a real gateway and writer: concurrent small
 * writes leave as few requests; every caller gets its own part of the
 * answer; a refused request falls back to its parts so only the guilty write
 * fails; per-key order holds across requests; sessions still read their writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceClient, SluiceDeadLetteredError, SluiceValidationError, type WriteResult } from '@sluice/client';
import { countingFetch, startStack, type ClientStack, type ClientTables } from './support.ts';

let stack: ClientStack;

beforeAll(async () => {
  stack = await startStack();
}, 90_000);
afterAll(async () => stack?.stop());

const rowsOf = async (sql: string, params: unknown[] = []) => (await stack.env.pool.query(sql, params)).rows;
const settle = <T>(ps: Promise<T>[]) => Promise.allSettled(ps);

function batchingClient(o: { maxRows?: number; lingerMs?: number; maxInFlight?: number } = {}) {
  const counted = countingFetch();
  const client = new SluiceClient<ClientTables>({ url: stack.url, fetch: counted.fetch, batching: { lingerMs: 20, ...o }, retry: { deadlineMs: 20_000 } });
  return { client, counted };
}

describe('client-side batching', () => {
  it('sends 300 concurrent single-row inserts as a few requests; each caller gets its own row back', async () => {
    const { client, counted } = batchingClient();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => client.insert('c_events', { kind: 'coalesce', note: `n${i}` })));
    expect(counted.counts.get('POST /v1/tables/c_events')).toBeLessThanOrEqual(5);
    const byId = new Map((await rowsOf("SELECT id::text, note FROM c_events WHERE kind = 'coalesce'")).map((r) => [r.id as string, r.note as string]));
    expect(byId.size).toBe(300);
    results.forEach((r, i) => {
      expect(r.status).toBe('committed'); // every coalesced request asks for the commit
      if (r.status !== 'committed') return;
      expect(r.affected).toEqual([1]);
      expect(byId.get(String(r.keys[0]!.id))).toBe(`n${i}`);
    });
    await client.close();
  });

  it('fails only the write with a bad value: its request is sent again part by part', async () => {
    const { client } = batchingClient();
    const ps = Array.from({ length: 40 }, (_, i) => client.insert('c_events', { kind: i === 17 ? 'x'.repeat(21) : 'badvalue', note: `b${i}` }));
    const out = await settle(ps);
    out.forEach((o, i) => {
      if (i === 17) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(SluiceValidationError);
        expect((o as PromiseRejectedResult).reason).toMatchObject({ outcome: 'failed' });
      } else expect(o.status, `write ${i}`).toBe('fulfilled');
    });
    expect((await rowsOf("SELECT count(*)::int AS n FROM c_events WHERE kind = 'badvalue'"))[0]!.n).toBe(39);
    await client.close();
  });

  it('fails only the write the database refuses (dead-lettered), the others commit once', async () => {
    const { client } = batchingClient();
    const ps = Array.from({ length: 40 }, (_, i) => client.insert('c_events', { kind: 'deadpart', amount: i === 5 ? -1 : i, note: `d${i}` }));
    const out = await settle(ps);
    expect(out.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason)).toEqual([expect.any(SluiceDeadLetteredError)]);
    expect(out[5]!.status).toBe('rejected');
    const rows = await rowsOf("SELECT note, count(*)::int AS n FROM c_events WHERE kind = 'deadpart' GROUP BY note");
    expect(rows.length).toBe(39);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    await client.close();
  });

  it('keeps per-key order across many coalesced requests', async () => {
    const { client, counted } = batchingClient({ maxRows: 7, lingerMs: 2, maxInFlight: 4 });
    const ps: Promise<WriteResult>[] = [];
    for (let v = 1; v <= 40; v++) {
      for (let k = 0; k < 5; k++) ps.push(client.upsert('c_kv', { k: `order${k}`, v: v * 10 }));
      ps.push(client.insert('c_events', { kind: 'side', note: String(v) }));
      if (v % 10 === 0) ps.push(client.update('c_kv', 'order0', { v: v * 10 + 1 }), client.upsert('c_kv', { k: 'order0', v: v * 10 + 2 }));
    }
    await Promise.all(ps);
    expect(counted.total()).toBeGreaterThan(20); // really many requests, not one big one
    const hist = await rowsOf("SELECT k, v FROM c_kv_history WHERE k LIKE 'order%' ORDER BY n");
    const perKey = new Map<string, number[]>();
    for (const r of hist) perKey.set(r.k as string, [...(perKey.get(r.k as string) ?? []), r.v as number]);
    for (let k = 1; k < 5; k++) expect(perKey.get(`order${k}`)).toEqual(Array.from({ length: 40 }, (_, i) => (i + 1) * 10));
    const zero = perKey.get('order0')!;
    expect(zero.length).toBe(48);
    expect(zero.every((v, i) => i === 0 || v > zero[i - 1]!)).toBe(true);
    await client.close();
  });

  it('coalesces mixed operations into one /v1/batch and slices its answer per caller', async () => {
    const { client, counted } = batchingClient({ lingerMs: 50 });
    await client.upsert('c_kv', { k: 'mixed', v: 1 });
    const [ins, up, upd, del] = await Promise.all([
      client.insert('c_events', [{ kind: 'mixed1' }, { kind: 'mixed2' }]),
      client.upsert('c_kv', { k: 'mixed2', v: 5 }),
      client.update('c_kv', 'mixed', { v: 2 }),
      client.delete('c_kv', 'nothing-here'),
    ]);
    expect(counted.counts.get('POST /v1/batch')).toBe(1);
    expect(ins).toMatchObject({ status: 'committed', affected: [1, 1] });
    expect(ins.status === 'committed' && ins.keys.length).toBe(2);
    expect(up).toMatchObject({ affected: [1] });
    expect(upd).toMatchObject({ affected: [1] });
    expect(del).toMatchObject({ affected: [0] });
    expect(new Set([ins.writeId, up.writeId, upd.writeId, del.writeId]).size).toBe(1); // one request, one writeId
    await client.close();
  });

  it('sends a write with the caller\'s Idempotency-Key alone, under that key', async () => {
    const { client } = batchingClient();
    const key = `batched-key-${Date.now()}`;
    const [a, b] = await Promise.all([
      client.insert('c_events', { kind: 'ownkey', note: key }, { idempotencyKey: key }),
      client.insert('c_events', { kind: 'ownkey', note: 'other' }),
    ]);
    expect(a.writeId).not.toBe(b.writeId);
    const again = await client.insert('c_events', { kind: 'ownkey', note: key }, { idempotencyKey: key });
    expect(again.writeId).toBe(a.writeId);
    expect((await rowsOf('SELECT count(*)::int AS n FROM c_events WHERE note = $1', [key]))[0]!.n).toBe(1);
    await client.close();
  });

  it('gives a session read-your-writes through a batcher view, and flush() settles everything', async () => {
    const plain = new SluiceClient<ClientTables>({ url: stack.url });
    const view = plain.batcher({ lingerMs: 10 });
    const s = view.session();
    const ps = Array.from({ length: 20 }, (_, i) => s.upsert('c_kv', { k: `view${i}`, v: i }));
    await view.flush();
    expect((await Promise.all(ps)).every((r) => r.status === 'committed')).toBe(true);
    expect(s.token).toMatch(/\//);
    expect(await s.getMany('c_kv', Array.from({ length: 20 }, (_, i) => `view${i}`))).toEqual(Array.from({ length: 20 }, (_, i) => ({ k: `view${i}`, v: i })));
    await plain.close();
  });
});

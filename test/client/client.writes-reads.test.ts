/**
 * The client against a real gateway and writer: each write kind with both
 * acks, typed errors, sessions reading their own writes, multi-get, keyset
 * list iteration and write statuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceClient, SluiceDeadLetteredError, SluiceProblemError, SluiceValidationError } from '@sluice/client';
import { eventually } from '../harness/index.ts';
import { countingFetch, startStack, type ClientStack, type ClientTables } from './support.ts';

let stack: ClientStack;
let client: SluiceClient<ClientTables>;
const counted = countingFetch();

beforeAll(async () => {
  stack = await startStack();
  client = new SluiceClient<ClientTables>({ url: stack.url, retry: { deadlineMs: 15_000 } });
}, 90_000);
afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

const count = async (sql: string, params: unknown[] = []) => Number((await stack.env.pool.query<{ n: string }>(sql, params)).rows[0]!.n);

describe('writes', () => {
  it('answers queued with a writeId and committed with keys, counts and a token', async () => {
    const q = await client.insert('c_events', { kind: 'queued' });
    expect(q).toEqual({ writeId: expect.stringMatching(/^main\.1\.\d+\./), status: 'queued' });
    const c = await client.insert('c_events', [{ kind: 'committed', amount: 1 }, { kind: 'committed', amount: 2 }], { ack: 'committed' });
    expect(c).toMatchObject({ status: 'committed', token: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), affected: [1, 1], replayed: false });
    expect(c.keys).toHaveLength(2);
    const ids = c.keys.map((k) => k!.id);
    expect(await count('SELECT count(*) AS n FROM c_events WHERE id = ANY($1::bigint[])', [ids])).toBe(2);
    await eventually(async () => expect((await client.writeStatus(q.writeId)).status).toBe('committed'));
  });

  it('upserts, updates and deletes by key, composite keys with a comma inside a value too', async () => {
    await client.upsert('c_pairs', { tenant: 'acme,inc', seq: 1, v: 'a' }, { ack: 'committed' });
    await client.upsert('c_pairs', { tenant: 'acme,inc', seq: 1, v: 'b' }, { ack: 'committed' });
    const u = await client.update('c_pairs', ['acme,inc', 1], { v: 'c' }, { ack: 'committed' });
    expect(u.affected).toEqual([1]);
    expect((await stack.env.pool.query("SELECT v FROM c_pairs WHERE tenant = 'acme,inc' AND seq = 1")).rows).toEqual([{ v: 'c' }]);
    const d = await client.delete('c_pairs', ['acme,inc', 1], { ack: 'committed' });
    expect(d.affected).toEqual([1]);
    expect(await count("SELECT count(*) AS n FROM c_pairs WHERE tenant = 'acme,inc'")).toBe(0);
    expect((await client.update('c_pairs', ['nobody', 9], { v: 'x' }, { ack: 'committed' })).affected).toEqual([0]);
  });

  it('applies a batch atomically and answers per op', async () => {
    const r = await client.batch(
      [
        { table: 'c_kv', op: 'upsert', row: { k: 'batch', v: 1 } },
        { table: 'c_events', op: 'insert', row: { kind: 'batch' } },
        { table: 'c_kv', op: 'update', key: 'batch', row: { v: 2 } },
      ],
      { ack: 'committed' },
    );
    expect(r.affected).toEqual([1, 1, 1]);
    expect((await stack.env.pool.query("SELECT v FROM c_kv WHERE k = 'batch'")).rows).toEqual([{ v: 2 }]);
  });

  it('throws a validation error with JSON Pointers, sends it once and applies nothing', async () => {
    const before = counted.total();
    const c = new SluiceClient<ClientTables>({ url: stack.url, fetch: counted.fetch });
    const err = await c.insert('c_events', [{ kind: 'ok' }, { kind: 'x'.repeat(21) }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceValidationError);
    expect(err).toMatchObject({ status: 400, kind: 'validation', outcome: 'failed' });
    expect((err as SluiceValidationError).errors.map((e) => e.pointer)).toEqual(['/1/kind']);
    expect(counted.total() - before).toBe(1); // a 4xx is never retried
    expect(await count("SELECT count(*) AS n FROM c_events WHERE kind = 'ok'")).toBe(0);
  });

  it('throws dead-lettered (422) with the SQLSTATE when the database refuses a committed write', async () => {
    const err = await client.insert('c_events', { kind: 'neg', amount: -1 }, { ack: 'committed' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceDeadLetteredError);
    expect(err).toMatchObject({ status: 422, kind: 'dead-lettered', outcome: 'failed', sqlstate: '23514', writeId: expect.any(String) });
    expect(await client.writeStatus((err as SluiceDeadLetteredError).writeId!)).toMatchObject({ status: 'dead', sqlstate: '23514' });
  });

  it('replays a write retried under the caller\'s Idempotency-Key: one application', async () => {
    const key = `order-${Date.now()}`;
    const a = await client.insert('c_events', { kind: 'idem', note: key }, { ack: 'committed', idempotencyKey: key });
    const b = await client.insert('c_events', { kind: 'idem', note: key }, { ack: 'committed', idempotencyKey: key });
    expect(b).toMatchObject({ writeId: a.writeId, status: 'committed', replayed: true });
    expect(await count('SELECT count(*) AS n FROM c_events WHERE note = $1', [key])).toBe(1);
    const other = await client.insert('c_events', { kind: 'idem', note: 'other' }, { idempotencyKey: key }).catch((e: unknown) => e);
    expect(other).toMatchObject({ status: 422, kind: 'conflict', type: 'https://sluice.dev/problems/idempotency-key-mismatch' });
  });
});

describe('reads', () => {
  it('gets a row or null, and many rows in the order asked', async () => {
    const c = await client.insert('c_events', [{ kind: 'read', amount: 7 }, { kind: 'read', amount: 8 }], { ack: 'committed' });
    // Returned keys are text for int8 (exact beyond 2^53); rows are row_to_json (numbers).
    const [a, b] = c.keys.map((k) => Number(k!.id));
    const row = await client.get('c_events', a!, { consistencyToken: c.token });
    expect(row).toMatchObject({ id: a, kind: 'read', amount: 7 });
    expect(await client.get('c_events', 999_999_999)).toBeNull();
    const many = await client.getMany('c_events', [b!, 999_999_998, a!], { consistencyToken: c.token });
    expect(many.map((r) => r?.amount ?? null)).toEqual([8, null, 7]);
    const missingTable = await (client as unknown as SluiceClient).get('nope', 1).catch((e: unknown) => e);
    expect(missingTable).toBeInstanceOf(SluiceProblemError);
    expect(missingTable).toMatchObject({ status: 404, kind: 'not-found' });
  });

  it('iterates keyset pages of a filtered list in key order, following next', async () => {
    const rows = Array.from({ length: 230 }, (_, i) => ({ kind: 'paged', amount: i }));
    const c = await client.insert('c_events', rows, { ack: 'committed' });
    const pages = [];
    for await (const page of client.list('c_events', { filter: { kind: 'paged' }, limit: 100, consistencyToken: c.token })) pages.push(page);
    expect(pages.map((p) => p.rows.length)).toEqual([100, 100, 30]);
    expect(pages.at(-1)!.next).toBeNull();
    const all = await client.list('c_events', { filter: { kind: 'paged' }, limit: 64, consistencyToken: c.token }).all();
    expect(all.map((r) => r.amount)).toEqual(rows.map((r) => r.amount));
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((x, y) => x - y));
  });
});

describe('sessions', () => {
  it('read their own committed writes without passing tokens around', async () => {
    const s = client.session();
    expect(s.token).toBeUndefined();
    await s.upsert('c_kv', { k: 'ryw', v: 1 }, { ack: 'committed' });
    const t1 = s.token;
    expect(t1).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    for (let v = 2; v <= 20; v++) {
      await s.update('c_kv', 'ryw', { v }, { ack: 'committed' });
      expect(await s.get('c_kv', 'ryw')).toEqual({ k: 'ryw', v });
    }
    // Carried to the next request of the same user (a cookie): still reads at least that fresh.
    const next = client.session({ token: s.token });
    expect(await next.get('c_kv', 'ryw')).toEqual({ k: 'ryw', v: 20 });
    await next.delete('c_kv', 'ryw', { ack: 'committed' });
    expect(await next.get('c_kv', 'ryw')).toBeNull();
  });

  it('take the token of a write status and of a read answer', async () => {
    const q = await client.insert('c_events', { kind: 'status' });
    const s = client.session();
    await eventually(async () => expect((await s.writeStatus(q.writeId)).status).toBe('committed'));
    expect(s.token).toMatch(/\//);
    const fresh = client.session();
    await fresh.get('c_events', 1);
    expect(fresh.token).toMatch(/\//); // the by-key read's Sluice-Consistency-Token (monotonic reads)
  });
});

/**
 * Bad input never reaches the queue (RELIABILITY rows 18, 20, 21): every
 * answer is problem+json with the request id, and the queues stay empty.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from './support.ts';

describe('routes: bad input → 4xx problem+json, nothing enqueued', () => {
  let t: TestGateway;
  /** Writes a test deliberately got accepted (to show the limit is exact). */
  let accepted = 0;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_MAX_BODY_BYTES: '2048', SLUICE_MAX_ROWS_PER_REQUEST: '5', SLUICE_MAX_JSON_DEPTH: '8' } });
  });
  afterEach(async () => {
    expect(await t.backlog()).toBe(accepted);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function problem(res: Response, status: number) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await json(res);
    expect(body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//), title: expect.any(String), detail: expect.any(String) });
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    return body;
  }

  it('400 for a bad row, each error located by a JSON Pointer', async () => {
    const body = await problem(await t.post('/v1/tables/events', [{ kind: 'a', amount: 1 }, { kind: 'x'.repeat(21), amount: 'lots', nope: 1 }]), 400);
    expect(body.errors).toEqual([
      { pointer: '/1/kind', detail: 'longer than 20 characters' },
      { pointer: '/1/amount', detail: expect.stringContaining('integer') },
      { pointer: '/1/nope', detail: 'unknown column' },
    ]);
  });

  it('400 for bad batch ops, pointers under /ops/i', async () => {
    const body = await problem(
      await t.post('/v1/batch', { ops: [{ table: 'events', op: 'insert', row: { kind: 'a' } }, { table: 'nope', op: 'insert', row: {} }, { table: 'pairs', op: 'merge' }, { table: 'pairs', op: 'delete', key: ['a'] }] }),
      400,
    );
    expect(body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/ops/0/row/amount', '/ops/1/table', '/ops/2/op', '/ops/3/key']);
    const more = await problem(await t.post('/v1/batch', { ops: [{ table: 'pairs', op: 'constructor' }, { table: 'pairs', op: 'delete', key: ['a', 1], row: {} }, 'x'] }), 400);
    expect(more.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/ops/0/op', '/ops/1/row', '/ops/2']);
    await problem(await t.post('/v1/batch', [{ table: 'pairs' }]), 400);
  });

  it('400 for a PATCH that changes the key or a malformed URL key', async () => {
    const change = await t.request('/v1/tables/pairs/a,1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"seq":2}' });
    expect((await problem(change, 400)).errors).toEqual([{ pointer: '/seq', detail: 'primary-key columns cannot be changed' }]);
    await problem(await t.request('/v1/tables/pairs/only-one', { method: 'DELETE' }), 400);
    await problem(await t.request('/v1/tables/secrets/abc', { method: 'DELETE' }), 400);
  });

  it('400 for malformed JSON, an empty body and invalid UTF-8', async () => {
    expect((await problem(await t.post('/v1/tables/events', '{"kind":'), 400)).detail).toContain('not valid JSON');
    await problem(await t.post('/v1/tables/events', ''), 400);
    const bad = await t.request('/v1/tables/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    expect((await problem(bad, 400)).detail).toContain('UTF-8');
  });

  it('400 for JSON nested deeper than SLUICE_MAX_JSON_DEPTH', async () => {
    // Depth 8 (the limit) passes; 9 does not. Brackets inside strings do not count.
    expect((await t.post('/v1/tables/events', { kind: 'a', amount: 1, payload: { a: { b: { c: { d: { e: { f: { g: '[[[[[[[[[[' } } } } } } } })).status).toBe(202);
    accepted++;
    expect((await problem(await t.post('/v1/tables/events', { kind: 'a', amount: 1, payload: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } }), 400)).detail).toContain('SLUICE_MAX_JSON_DEPTH');
    await problem(await t.post('/v1/tables/events', '['.repeat(100_000) + ']'.repeat(100_000)), 413);
    await problem(await t.post('/v1/tables/events', '['.repeat(1000) + ']'.repeat(1000)), 400);
  });

  it('415 for a missing or wrong Content-Type, or a non-UTF-8 charset', async () => {
    await problem(await t.request('/v1/tables/events', { method: 'POST', body: '{"kind":"a","amount":1}' }), 415);
    await problem(await t.post('/v1/tables/events', '{"kind":"a","amount":1}', { 'content-type': 'text/plain' }), 415);
    await problem(await t.post('/v1/tables/events', '{"kind":"a","amount":1}', { 'content-type': 'application/json; charset=latin1' }), 415);
    await problem(await t.post('/v1/tables/events', '{"kind":"a","amount":1}', { 'content-encoding': 'gzip' }), 415);
    expect((await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, { 'content-type': 'Application/JSON; charset=UTF-8' })).status).toBe(202);
    accepted++;
  });

  it('413 for a body over SLUICE_MAX_BODY_BYTES and for more rows than SLUICE_MAX_ROWS_PER_REQUEST', async () => {
    await problem(await t.post('/v1/tables/events', { kind: 'a', amount: 1, payload: { s: 'x'.repeat(3000) } }), 413);
    const rows = Array.from({ length: 6 }, () => ({ kind: 'a', amount: 1 }));
    expect((await problem(await t.post('/v1/tables/events', rows), 413)).detail).toContain('SLUICE_MAX_ROWS_PER_REQUEST');
    await problem(await t.post('/v1/batch', { ops: rows.map((row) => ({ table: 'events', op: 'insert', row })) }), 413);
  });

  it('404 for unknown tables and injection attempts, before any SQL', async () => {
    for (const name of ['nope', 'users%22%3BDROP%20TABLE%20events%3B--', 'pg_catalog.pg_authid', 'sluice.applied_jobs', 'public.events', '__proto__', 'constructor']) {
      const body = await problem(await t.post(`/v1/tables/${name}`, { kind: 'a', amount: 1 }), 404);
      expect(body.detail).toContain('no table');
    }
    await problem(await t.request('/v1/tables/pg_catalog.pg_authid/1', { method: 'DELETE' }), 404);
    const { rows } = await t.env.pool.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'events'");
    expect(rows[0].n).toBe(1);
  });

  it('404 problem+json for unknown routes', async () => {
    await problem(await t.request('/v2/anything'), 404);
  });

  it('400 for a bad Sluice-Ack and an over-long Idempotency-Key', async () => {
    await problem(await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, { 'sluice-ack': 'eventually' }), 400);
    await problem(await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, { 'idempotency-key': 'k'.repeat(256) }), 400);
  });
});

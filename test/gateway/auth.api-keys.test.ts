/** RELIABILITY row 22: missing, wrong or under-scoped API key → 401 / 403, nothing enqueued. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from './support.ts';

const KEYS = [
  { key: 'writer-key-events-0123456789abcdef0123456789', scopes: ['write:events'] },
  { key: 'reader-key-all-0123456789abcdef0123456789', scopes: ['read:*'] },
  { key: 'writer-key-star-0123456789abcdef0123456789', scopes: ['write:*'] },
  { key: 'admin-key-only-0123456789abcdef0123456789', scopes: ['admin'] },
];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('auth: API keys and scopes', () => {
  let t: TestGateway;
  let accepted = 0;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS) } });
  });
  afterEach(async () => {
    expect(await t.backlog()).toBe(accepted);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('401 with WWW-Authenticate when the key is missing, malformed or unknown', async () => {
    for (const headers of [{}, { authorization: 'Basic d3JpdGVyOmtleQ==' }, { authorization: 'Bearer' }, bearer('no-such-key-at-all')]) {
      const res = await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="sluice"/);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect((await t.request('/v1/writes/p0.abc.1.0')).status).toBe(401);
  });

  it('accepts a valid key; the scheme is case-insensitive', async () => {
    const res = await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, { authorization: 'bearer writer-key-events-0123456789abcdef0123456789' });
    expect(res.status).toBe(202);
    accepted++;
  });

  it('403 for a table outside the key\'s scopes, checked before the body is even read', async () => {
    expect((await t.post('/v1/tables/pairs', { tenant: 'a', seq: 1 }, bearer('writer-key-events-0123456789abcdef0123456789'))).status).toBe(403);
    expect((await t.post('/v1/tables/pairs', 'not even json', bearer('writer-key-events-0123456789abcdef0123456789'))).status).toBe(403);
    expect((await t.request('/v1/tables/pairs/a,1', { method: 'DELETE', headers: bearer('reader-key-all-0123456789abcdef0123456789') })).status).toBe(403);
    expect((await t.post('/v1/tables/events', { kind: 'a', amount: 1 }, bearer('admin-key-only-0123456789abcdef0123456789'))).status).toBe(403);
  });

  it('403 for a batch touching any table outside the scopes, naming the missing scopes', async () => {
    const res = await t.post(
      '/v1/batch',
      { ops: [{ table: 'events', op: 'insert', row: { kind: 'a', amount: 1 } }, { table: 'secrets', op: 'delete', key: 1 }] },
      bearer('writer-key-events-0123456789abcdef0123456789'),
    );
    expect(res.status).toBe(403);
    expect((await json(res)).detail).toContain('write:secrets');
  });

  it('write:* covers every table; unknown tables are still 404', async () => {
    expect((await t.request('/v1/tables/secrets/5', { method: 'DELETE', headers: bearer('writer-key-star-0123456789abcdef0123456789') })).status).toBe(202);
    accepted++;
    expect((await t.post('/v1/tables/nope', {}, bearer('writer-key-star-0123456789abcdef0123456789'))).status).toBe(404);
  });

  it('/v1/writes needs a read or write scope; health, metrics and openapi need none', async () => {
    expect((await t.request('/v1/writes/p0.abc.1.0', { headers: bearer('reader-key-all-0123456789abcdef0123456789') })).status).toBe(404);
    expect((await t.request('/v1/writes/p0.abc.1.0', { headers: bearer('writer-key-events-0123456789abcdef0123456789') })).status).toBe(404);
    for (const path of ['/healthz', '/openapi.json']) expect((await t.request(path)).status).toBe(200);
    // Metrics are for operators (issue 11): the admin scope.
    expect((await t.request('/metrics')).status).toBe(401);
    expect((await t.request('/metrics', { headers: bearer('writer-key-star-0123456789abcdef0123456789') })).status).toBe(403);
    expect((await t.request('/metrics', { headers: bearer('admin-key-only-0123456789abcdef0123456789') })).status).toBe(200);
  });

  it('scopes Idempotency-Keys per API key: the same key under two API keys is two requests', async () => {
    const body = { kind: 'idem', amount: 1 };
    const a = await t.post('/v1/tables/events', body, { ...bearer('writer-key-events-0123456789abcdef0123456789'), 'idempotency-key': 'shared-key' });
    const b = await t.post('/v1/tables/events', body, { ...bearer('writer-key-star-0123456789abcdef0123456789'), 'idempotency-key': 'shared-key' });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect((await json(a)).writeId).not.toBe((await json(b)).writeId);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    accepted += 2;
  });
});

/**
 * The read routes over HTTP (in-process `app.request`): by key, multi-get,
 * keyset lists, scopes, headers and problem documents. No replicas here: the
 * database reads go to the primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import type { GatewayEnv } from '@sluice/gateway/context.ts';
import { createTestEnv, testConfig, type TestEnv } from '../harness/index.ts';
import { catalogOf, ReadCounter, readApp, startReadService , type TestReadService } from './helpers.ts';

const SQL = `
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, team int, note text);
CREATE INDEX users_team ON users (team);
INSERT INTO users SELECT i, 'u' || i || '@x', i % 3, CASE WHEN i = 2 THEN 'a,b' END FROM generate_series(1, 25) i;
CREATE TABLE memberships (org text, member int, role text, PRIMARY KEY (org, member));
INSERT INTO memberships VALUES ('a,b', 1, 'owner'), ('acme', 2, 'dev');
CREATE TABLE prices (sku numeric PRIMARY KEY, cents int);
INSERT INTO prices VALUES (1.5, 150);`;

const KEYS = JSON.stringify([
  { key: 'k-reader-all-0123456789abcdef0123456789', scopes: ['read:*'] },
  { key: 'k-writer-users-0123456789abcdef0123456789', scopes: ['write:users'] },
  { key: 'k-reader-users-0123456789abcdef0123456789', scopes: ['read:users'] },
]);

let env: TestEnv;
let service: TestReadService;
let app: Hono<GatewayEnv>;
const counter = new ReadCounter();
const auth = (key = 'k-reader-all-0123456789abcdef0123456789') => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  env = await createTestEnv({ sql: SQL });
  const config = testConfig(env, { SLUICE_TABLES: 'users,memberships,prices', SLUICE_API_KEYS: KEYS, SLUICE_MAX_ROWS_PER_REQUEST: '50' });
  service = await startReadService(config, env.pool, await catalogOf(env.pool, ['users', 'memberships', 'prices']), counter);
  app = readApp(service);
});

afterAll(async () => {
  await service?.stop();
  await service?.stop(); // idempotent
  await env?.cleanup();
});

describe('GET /v1/tables/{table}/{key}', () => {
  it('reads from the primary on a miss, then from the cache', async () => {
    const before = counter.total;
    const first = await app.request('/v1/tables/users/7', { headers: auth() });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    expect(first.headers.get('sluice-source')).toBe('primary');
    expect(first.headers.get('cache-status')).toBe('sluice; fwd=miss');
    expect(first.headers.get('sluice-consistency-token')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await first.json()).toEqual({ id: 7, email: 'u7@x', team: 1, note: null });
    const second = await app.request('/v1/tables/users/7', { headers: auth() });
    expect(second.headers.get('sluice-source')).toBe('cache');
    expect(second.headers.get('cache-status')).toMatch(/^sluice; hit; ttl=\d+$/);
    expect(await second.json()).toEqual({ id: 7, email: 'u7@x', team: 1, note: null });
    expect(counter.total - before).toBe(1);
  });

  it('answers 404 problem+json for a missing row, cached negatively', async () => {
    const before = counter.total;
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/v1/tables/users/999', { headers: auth() });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect((await res.json()).type).toBe('https://sluice.dev/problems/not-found');
      expect(res.headers.get('sluice-source')).toBe(i === 0 ? 'primary' : 'cache');
    }
    expect(counter.total - before).toBe(1);
  });

  it('reads composite keys, with a percent-encoded comma inside a value', async () => {
    const res = await app.request('/v1/tables/memberships/a%2Cb,1', { headers: auth() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ org: 'a,b', member: 1, role: 'owner' });
  });

  it('refuses malformed keys and tokens with 400, unknown tables with 404', async () => {
    expect((await app.request('/v1/tables/users/abc', { headers: auth() })).status).toBe(400);
    expect((await app.request('/v1/tables/memberships/acme', { headers: auth() })).status).toBe(400);
    const badToken = await app.request('/v1/tables/users/1', { headers: { ...auth(), 'sluice-consistency-token': "0/1'; DROP" } });
    expect(badToken.status).toBe(400);
    expect((await app.request('/v1/tables/pg_catalog.pg_authid/1', { headers: auth() })).status).toBe(404);
  });

  it('never caches a table whose key has several spellings (numeric)', async () => {
    const before = counter.total;
    for (const sku of ['1.5', '1.50']) {
      const res = await app.request(`/v1/tables/prices/${sku}`, { headers: auth() });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-status')).toBe('sluice; fwd=bypass');
      expect(res.headers.get('sluice-source')).toBe('primary');
    }
    expect(counter.total - before).toBe(2);
  });
});

describe('scopes', () => {
  it('needs a key (401) holding read:<table> or read:* (403)', async () => {
    expect((await app.request('/v1/tables/users/1')).status).toBe(401);
    expect((await app.request('/v1/tables/users/1', { headers: auth('k-writer-users-0123456789abcdef0123456789') })).status).toBe(403);
    expect((await app.request('/v1/tables/users/1', { headers: auth('k-reader-users-0123456789abcdef0123456789') })).status).toBe(200);
    expect((await app.request('/v1/tables/memberships/acme,2', { headers: auth('k-reader-users-0123456789abcdef0123456789') })).status).toBe(403);
    expect((await app.request('/v1/tables/users?team=eq.1', { headers: auth('k-writer-users-0123456789abcdef0123456789') })).status).toBe(403);
    const post = await app.request('/v1/tables/users/get', { method: 'POST', headers: { ...auth('k-writer-users-0123456789abcdef0123456789'), 'content-type': 'application/json' }, body: '{"keys":[1]}' });
    expect(post.status).toBe(403);
  });
});

describe('multi-get', () => {
  it('POST …/get returns rows in the order asked, null for missing keys', async () => {
    const res = await app.request('/v1/tables/users/get', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ keys: [3, '4', 404, 3] }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { rows: ({ id: number } | null)[] };
    expect(body.rows.map((r) => r?.id ?? null)).toEqual([3, 4, null, 3]);
    expect(['primary', 'cache']).toContain(res.headers.get('sluice-source'));
  });

  it('loads the misses of one request in one query, then serves them from the cache', async () => {
    const before = counter.total;
    const keys = [10, 11, 12, 13, 14];
    const res = await app.request(`/v1/tables/users?key=in.(${keys.join(',')})`, { headers: auth() });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { rows: { id: number }[] }).rows.map((r) => r.id)).toEqual(keys);
    expect(counter.total - before).toBe(1);
    const again = await app.request(`/v1/tables/users?key=in.(${keys.join(',')})`, { headers: auth() });
    expect(again.headers.get('sluice-source')).toBe('cache');
    expect(counter.total - before).toBe(1);
  });

  it('takes composite keys quoted in in.(…) and as JSON arrays or objects', async () => {
    const q = await app.request(`/v1/tables/memberships?key=in.(${encodeURIComponent('"acme,2"')})`, { headers: auth() });
    expect(((await q.json()) as { rows: unknown[] }).rows).toEqual([{ org: 'acme', member: 2, role: 'dev' }]);
    const body = JSON.stringify({ keys: [['a,b', 1], { org: 'acme', member: 2 }, ['nope', 9]] });
    const p = await app.request('/v1/tables/memberships/get', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body });
    expect(((await p.json()) as { rows: ({ role: string } | null)[] }).rows.map((r) => r?.role ?? null)).toEqual(['owner', 'dev', null]);
  });

  it('refuses bad keys (400 with pointers), too many keys (413), a non-JSON body (415)', async () => {
    const bad = await app.request('/v1/tables/users/get', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"keys":[1,"x",{"email":"a"}]}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { pointer: string }[] }).errors.map((e) => e.pointer)).toEqual(['/keys/1', '/keys/2/email']);
    const many = await app.request(`/v1/tables/users?key=in.(${Array.from({ length: 51 }, (_, i) => i).join(',')})`, { headers: auth() });
    expect(many.status).toBe(413);
    const text = await app.request('/v1/tables/users/get', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'keys' });
    expect(text.status).toBe(415);
  });
});

describe('GET /v1/tables/{table}?col=eq.value (keyset pages)', () => {
  it('pages through an indexed column in key order with an opaque cursor and a Link header', async () => {
    const seen: number[] = [];
    let url: string | null = '/v1/tables/users?team=eq.1&limit=3';
    let pages = 0;
    while (url !== null) {
      const res: Response = await app.request(url, { headers: auth() });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { rows: { id: number; team: number }[]; next: string | null };
      for (const r of body.rows) expect(r.team).toBe(1);
      seen.push(...body.rows.map((r) => r.id));
      const link = res.headers.get('link');
      if (body.next === null) expect(link).toBeNull();
      else expect(link).toBe(`</v1/tables/users?team=eq.1&limit=3&after=${body.next}>; rel="next"`);
      url = body.next === null ? null : `/v1/tables/users?team=eq.1&limit=3&after=${body.next}`;
      pages++;
    }
    expect(seen).toEqual([1, 4, 7, 10, 13, 16, 19, 22, 25]);
    expect(pages).toBe(3);
  });

  it('lists the whole table by primary key without a filter', async () => {
    const res = await app.request('/v1/tables/users?limit=50', { headers: auth() });
    const body = (await res.json()) as { rows: { id: number }[]; next: string | null };
    expect(body.rows).toHaveLength(25);
    expect(body.next).toBeNull();
  });

  it('filters only on indexed columns, with eq., one at a time, and checks values and cursors', async () => {
    const cases: [string, number][] = [
      ['/v1/tables/users?email=eq.u1@x', 400], // not indexed
      ['/v1/tables/users?nope=eq.1', 400],
      ['/v1/tables/users?team=gt.1', 400],
      ['/v1/tables/users?team=eq.x', 400],
      ['/v1/tables/users?team=eq.1&id=eq.1', 400],
      ['/v1/tables/users?team=eq.1&after=bogus', 400],
      ['/v1/tables/users?limit=0', 400],
      ['/v1/tables/users?limit=51', 400],
      ['/v1/tables/users?id=eq.5', 200], // the primary key is indexed
    ];
    for (const [url, status] of cases) expect([url, (await app.request(url, { headers: auth() })).status]).toEqual([url, status]);
  });
});

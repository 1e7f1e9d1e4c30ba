/** The admin API needs the `admin` scope: 401 without a key, 403 with a key that lacks it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';

const KEYS = [
  { key: 'admin-key-for-ops-0123456789abcdef0123456789', scopes: ['admin'] },
  { key: 'data-key-everything-0123456789abcdef0123456789', scopes: ['write:*', 'read:*'] },
];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const ROUTES: [string, string][] = [
  ['GET', '/v1/admin/dead-letters'],
  ['GET', '/v1/admin/dead-letters/1'],
  ['POST', '/v1/admin/dead-letters/1/replay'],
  ['DELETE', '/v1/admin/dead-letters/1'],
  ['GET', '/v1/admin/partitions'],
  ['POST', '/v1/admin/partitions/pause'],
  ['POST', '/v1/admin/partitions/resume'],
  ['POST', '/v1/admin/partitions/0/pause'],
  ['POST', '/v1/admin/partitions/0/resume'],
];

describe('admin auth', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS) } });
  });
  afterAll(async () => t?.close());

  it('401 without a key and 403 without the admin scope, on every admin route, as problem+json', async () => {
    for (const [method, path] of ROUTES) {
      const anonymous = await t.request(path, { method });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
      const data = await t.request(path, { method, headers: bearer('data-key-everything-0123456789abcdef0123456789') });
      expect(data.status, `${method} ${path}`).toBe(403);
      expect((await json(data)).detail).toMatch(/admin scope/);
    }
  });

  it('lets an admin key in (and nothing was paused by the refused calls)', async () => {
    const res = await t.request('/v1/admin/partitions', { headers: bearer('admin-key-for-ops-0123456789abcdef0123456789') });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.partitions.map((p: { paused: boolean }) => p.paused)).toEqual([false, false, false, false]);
    expect((await t.request('/v1/admin/dead-letters', { headers: bearer('admin-key-for-ops-0123456789abcdef0123456789') })).status).toBe(200);
    expect((await t.request('/v1/admin/dead-letters/1', { headers: bearer('admin-key-for-ops-0123456789abcdef0123456789') })).status).toBe(404);
  });

  it('/openapi.json describes every admin route', async () => {
    const doc = await json(await t.request('/openapi.json'));
    const described = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    for (const [method, path] of ROUTES) expect(described).toContain(`${method} ${path.replace(/\/\d+(?=\/|$)/, (m) => (path.includes('partitions') ? '/{p}' : '/{id}'))}`);
  });
});

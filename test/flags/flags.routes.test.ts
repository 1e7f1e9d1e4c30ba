/**
 * Feature flags over HTTP on two gateways sharing one database and Redis:
 * admin changes (versioned, audited), evaluation single and bulk, the SSE
 * stream, every bad input refused with problem+json and nothing changed,
 * scopes, a change the pub/sub never announced (healed by the reconcile),
 * and concurrent changes keeping one version order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putFlag } from '@sluice/shared/sql/flags.ts';
import { eventually } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';

const KEYS = [
  { key: 'admin-key-for-ops-0123456789abcdef', scopes: ['admin'] },
  { key: 'read-key-for-apps-0123456789abcdef', scopes: ['read:events'] },
];
const ADMIN = { authorization: 'Bearer admin-key-for-ops-0123456789abcdef' };
const APP = { authorization: 'Bearer read-key-for-apps-0123456789abcdef' };

describe('flags: routes', () => {
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    const env = { SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_FLAGS_RECONCILE_MS: '200' };
    a = await startGateway({ env });
    b = await startGateway({ env, testEnv: a.env });
  });
  afterAll(async () => {
    await b?.close(true);
    await a?.close();
  });

  const put = (t: TestGateway, name: string, body: unknown) => t.request(`/v1/admin/flags/${name}`, { method: 'PUT', headers: { ...ADMIN, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const evalOne = (t: TestGateway, name: string, userId: string) => t.request(`/v1/flags/${name}?userId=${encodeURIComponent(userId)}`, { headers: APP });
  const stored = async () => (await a.env.pool.query<{ n: string; v: string }>('SELECT count(*) AS n, coalesce(max(version), 0) AS v FROM sluice.flag_changes')).rows[0]!;

  it('PUT stores a version and an audit row; the other gateway evaluates it; history shows who, when, before and after', async () => {
    const res = await put(a, 'checkout-v2', { enabled: true, rollout: 10, description: 'new checkout' });
    expect(res.status).toBe(200);
    const f = await json(res);
    expect(f).toMatchObject({ name: 'checkout-v2', enabled: true, rollout: 10, description: 'new checkout' });
    expect(f.version).toBeGreaterThan(0);
    // The answering gateway adopted it before answering.
    expect((await json(await evalOne(a, 'checkout-v2', 'u1'))).version).toBe(f.version);
    await eventually(async () => expect((await json(await evalOne(b, 'checkout-v2', 'u1'))).version).toBe(f.version), 1000);

    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const answers = await Promise.all(users.map(async (u) => json(await evalOne(b, 'checkout-v2', u))));
    for (const r of answers) expect(Object.keys(r).sort()).toEqual(['enabled', 'name', 'reason', 'version']);
    const on = answers.filter((r) => r.enabled).length;
    expect(on).toBeGreaterThan(20);
    expect(on).toBeLessThan(70);
    expect(new Set(answers.map((r) => r.reason))).toEqual(new Set(['rollout-in', 'rollout-out']));

    const raised = await json(await put(a, 'checkout-v2', { enabled: true, rollout: 50 }));
    expect(raised.version).toBeGreaterThan(f.version);
    const hist = await json(await a.request('/v1/admin/flags/checkout-v2/history', { headers: ADMIN }));
    expect(hist.changes).toHaveLength(2);
    expect(hist.changes[0]).toMatchObject({ version: raised.version, before: { rollout: 10 }, after: { rollout: 50, description: '' } });
    expect(hist.changes[1]).toMatchObject({ version: f.version, before: null, after: { rollout: 10 } });
    expect(hist.changes[0].actor).toMatch(/^[0-9a-f]{16}$/);
    expect(Date.parse(hist.changes[0].at)).toBeGreaterThan(Date.now() - 60_000);

    const list = await json(await b.request('/v1/admin/flags', { headers: ADMIN }));
    expect(list.version).toBe(raised.version);
    expect(list.flags.map((x: { name: string }) => x.name)).toContain('checkout-v2');
  });

  it('bulk evaluation answers every named flag from one version; unknown flags are off with reason "unknown"', async () => {
    await put(a, 'bulk-on', { enabled: true, rollout: 100 });
    const killed = await json(await put(a, 'bulk-off', { enabled: false, rollout: 100 }));
    await eventually(async () => expect((await json(await evalOne(b, 'bulk-off', 'x'))).version).toBe(killed.version), 1000);
    const res = await b.request('/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u7', flags: ['bulk-on', 'bulk-off', 'nope'] }) });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.version).toBeGreaterThanOrEqual(killed.version);
    expect(body.flags).toEqual([
      { name: 'bulk-on', enabled: true, version: expect.any(Number), reason: 'rollout-in' },
      { name: 'bulk-off', enabled: false, version: killed.version, reason: 'disabled' },
      { name: 'nope', enabled: false, version: 0, reason: 'unknown' },
    ]);
    const all = await json(await b.request('/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u7' }) }));
    expect(all.flags.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['bulk-on', 'bulk-off', 'checkout-v2']));
    const missing = await evalOne(b, 'nope', 'u7');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
  });

  it('every bad input is a 400 problem+json that changes nothing', async () => {
    const before = await stored();
    const bad: [string, unknown][] = [
      ['ok-name', {}],
      ['ok-name', { enabled: 'yes' }],
      ['ok-name', { enabled: true, rollout: 101 }],
      ['ok-name', { enabled: true, rollout: -1 }],
      ['ok-name', { enabled: true, rollout: 2.5 }],
      ['ok-name', { enabled: true, rollout: '10' }],
      ['ok-name', { enabled: true, description: 7 }],
      ['ok-name', { enabled: true, description: 'x'.repeat(1001) }],
      ['ok-name', { enabled: true, extra: 1 }],
      ['ok-name', [true]],
      ['ok-name', '{"enabled":'],
      ['bad%20name', { enabled: true }],
      ['-leading', { enabled: true }],
      ['x'.repeat(101), { enabled: true }],
      ['stream', { enabled: true }],
      ['evaluate', { enabled: true }],
      ['users%22%3BDROP', { enabled: true }],
    ];
    for (const [name, body] of bad) {
      const res = await put(a, name, body);
      expect(res.status, `${name} ${JSON.stringify(body)}`).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    const evals: [string, RequestInit][] = [
      ['/v1/flags/checkout-v2', { headers: APP }],
      ['/v1/flags/checkout-v2?userId=', { headers: APP }],
      [`/v1/flags/checkout-v2?userId=${'u'.repeat(257)}`, { headers: APP }],
      ['/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 1 }) }],
      ['/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u', flags: 'a' }) }],
      ['/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u', flags: ['a b'] }) }],
      ['/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u', flags: Array(201).fill('a') }) }],
      ['/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'u', other: 1 }) }],
      ['/v1/admin/flags/checkout-v2/history?limit=0', { headers: ADMIN }],
      ['/v1/admin/flags/checkout-v2/history?limit=abc', { headers: ADMIN }],
    ];
    for (const [path, init] of evals) {
      const res = await a.request(path, init);
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect((await a.request('/v1/flags/evaluate', { method: 'POST', headers: { ...APP, 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415);
    expect((await a.request('/v1/flags/other', { method: 'POST', headers: { ...APP, 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);
    expect((await a.request('/v1/admin/flags/never-set/history', { headers: ADMIN })).status).toBe(404);
    expect((await a.request('/v1/admin/flags/never-set', { method: 'DELETE', headers: ADMIN })).status).toBe(404);
    expect(await stored()).toEqual(before);
  });

  it('evaluation needs a valid key; changes need the admin scope', async () => {
    expect((await a.request('/v1/flags/checkout-v2?userId=u')).status).toBe(401);
    expect((await a.request('/v1/flags/checkout-v2?userId=u', { headers: { authorization: 'Bearer wrong-key-123' } })).status).toBe(401);
    const before = await stored();
    for (const [method, path] of [['PUT', '/v1/admin/flags/checkout-v2'], ['DELETE', '/v1/admin/flags/checkout-v2'], ['GET', '/v1/admin/flags'], ['GET', '/v1/admin/flags/checkout-v2/history']] as const) {
      const res = await a.request(path, { method, headers: { ...APP, 'content-type': 'application/json' }, ...(method === 'PUT' ? { body: '{"enabled":false}' } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await stored()).toEqual(before);
  });

  it('DELETE removes the flag everywhere and keeps its history', async () => {
    await put(a, 'short-lived', { enabled: true });
    await eventually(async () => expect((await evalOne(b, 'short-lived', 'u')).status).toBe(200), 1000);
    const del = await a.request('/v1/admin/flags/short-lived', { method: 'DELETE', headers: ADMIN });
    expect(del.status).toBe(200);
    const d = await json(del);
    expect(d).toMatchObject({ name: 'short-lived', deleted: true });
    await eventually(async () => expect((await evalOne(b, 'short-lived', 'u')).status).toBe(404), 1000);
    const hist = await json(await a.request('/v1/admin/flags/short-lived/history', { headers: ADMIN }));
    expect(hist.changes[0]).toMatchObject({ version: d.version, after: null, before: { name: 'short-lived' } });
    expect((await a.request('/v1/admin/flags/short-lived', { method: 'DELETE', headers: ADMIN })).status).toBe(404);
  });

  it('a change never announced over pub/sub (stored by SQL) reaches both gateways through the reconcile', async () => {
    const f = await putFlag(a.env.pool, 'silent-change', { enabled: true, rollout: 100, description: '' }, 'sql');
    await eventually(async () => {
      for (const t of [a, b]) expect((await json(await evalOne(t, 'silent-change', 'u'))).version).toBe(f.version);
    }, 1000);
  });

  it('concurrent changes of one flag get distinct versions, one audit row each, and the latest version wins everywhere', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => put(i % 2 ? a : b, 'contended', { enabled: true, rollout: i })));
    const flags = await Promise.all(results.map((r) => json(r)));
    const versions = flags.map((f) => f.version as number);
    expect(new Set(versions).size).toBe(20);
    const last = flags.find((f) => f.version === Math.max(...versions))!;
    const hist = await json(await a.request('/v1/admin/flags/contended/history', { headers: ADMIN }));
    expect(hist.changes).toHaveLength(20);
    // Each audit row's `before` is the previous row's `after`: the changes were serialised.
    for (let i = 0; i < 19; i += 1) expect(hist.changes[i].before).toEqual(hist.changes[i + 1].after);
    await eventually(async () => {
      for (const t of [a, b]) expect(await json(await evalOne(t, 'contended', 'u'))).toMatchObject({ version: last.version });
    }, 1000);
  });

  it('the SSE stream sends the whole set, then each change and deletion in version order', async () => {
    const ctrl = new AbortController();
    const res = await b.request('/v1/flags/stream', { headers: APP, signal: ctrl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    const nextEvent = async (): Promise<{ event: string; id: string; data: any }> => {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) continue;
          const field = (n: string) => block.split('\n').find((l) => l.startsWith(`${n}: `))?.slice(n.length + 2) ?? '';
          return { event: field('event'), id: field('id'), data: JSON.parse(field('data')) };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += decoder.decode(value, { stream: true });
      }
    };
    const first = await nextEvent();
    expect(first.event).toBe('flags');
    expect(first.data.flags.map((f: { name: string }) => f.name)).toContain('checkout-v2');
    const changed = await json(await put(a, 'streamed', { enabled: true, rollout: 5 }));
    const ev = await nextEvent();
    expect(ev).toMatchObject({ event: 'flag', id: String(changed.version), data: { name: 'streamed', rollout: 5, version: changed.version } });
    const del = await json(await a.request('/v1/admin/flags/streamed', { method: 'DELETE', headers: ADMIN }));
    expect(await nextEvent()).toMatchObject({ event: 'delete', data: { name: 'streamed', version: del.version } });
    ctrl.abort();
    await reader.cancel().catch(() => {});
  });
});

/**
 * Issue 11, finding 4: security of a gateway exposed to a fleet.
 * - bind 127.0.0.1 when auth is off unless SLUICE_HOST is set;
 * - API keys of 32+ characters, ids HMAC'd under SLUICE_HMAC_SECRET;
 * - a write's status only for the key that wrote it (or admin); writeIds carry an owner tag;
 * - a byte budget for bodies, reserved from Content-Length before reading;
 * - /v1/batch refuses a key without any write scope before reading the body;
 * - /readyz details and /metrics for the admin scope only;
 * - no row data (Postgres DETAIL) in logs.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, gatewayHostOf, loadConfig, metricsHostOf } from '@sluice/shared/config/index.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { keyIdOf, sha256Hex } from '@sluice/gateway/middleware/auth/principal.ts';
import { json, startGateway, type TestGateway } from './support.ts';

const key = (name: string) => `${name}-0123456789abcdef0123456789`;
const KEYS = [
  { key: key('writer-a'), scopes: ['write:*', 'read:*'] },
  { key: key('writer-b'), scopes: ['write:*', 'read:*'] },
  { key: key('reader'), scopes: ['read:*'] },
  { key: key('admin'), scopes: ['admin'] },
];
const bearer = (name: string) => ({ authorization: `Bearer ${key(name)}` });
const SECRET = 'a-secret-of-at-least-32-characters!!';
/** A POST with its Content-Length, as every HTTP client sends one (app.request does not add it). */
const sized = (body: unknown, headers: Record<string, string>) => {
  const text = JSON.stringify(body);
  return { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers }, body: text };
};

describe('config: bind address, key length, secret', () => {
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1/x', SLUICE_HMAC_SECRET: SECRET };
  it('binds 127.0.0.1 with auth off unless SLUICE_HOST is set; 0.0.0.0 with auth on; metrics servers 127.0.0.1', () => {
    expect(gatewayHostOf(loadConfig(base))).toBe('127.0.0.1');
    expect(gatewayHostOf(loadConfig({ ...base, SLUICE_HOST: '0.0.0.0' }))).toBe('0.0.0.0');
    expect(gatewayHostOf(loadConfig({ ...base, SLUICE_API_KEYS: JSON.stringify(KEYS) }))).toBe('0.0.0.0');
    expect(metricsHostOf(loadConfig({ ...base, SLUICE_API_KEYS: JSON.stringify(KEYS) }))).toBe('127.0.0.1');
    expect(metricsHostOf(loadConfig({ ...base, SLUICE_HOST: '10.0.0.5' }))).toBe('10.0.0.5');
  });

  it('refuses keys under 32 characters, and keys without SLUICE_HMAC_SECRET', () => {
    expect(() => loadConfig({ ...base, SLUICE_API_KEYS: JSON.stringify([{ key: 'eight-ch', scopes: ['admin'] }]) })).toThrow(/at least 32 characters/);
    expect(() => loadConfig({ DATABASE_URL: base.DATABASE_URL, SLUICE_API_KEYS: JSON.stringify(KEYS) })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, SLUICE_HMAC_SECRET: 'short' })).toThrow(/SLUICE_HMAC_SECRET/);
  });

  it('key ids are HMACs under the secret, not bare hashes of the key', () => {
    const id = keyIdOf(SECRET, key('reader'));
    expect(id).toHaveLength(16);
    expect(sha256Hex(key('reader'))).not.toContain(id);
    expect(keyIdOf('another-secret-of-at-least-32-characters', key('reader'))).not.toBe(id);
  });
});

describe('gateway with auth on', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_HMAC_SECRET: SECRET, SLUICE_MAX_PENDING_BYTES: '1000', SLUICE_MAX_BODY_BYTES: '4000' } });
  });
  afterAll(async () => t?.close());

  it("a write's status is readable by the key that wrote it and by admin, not by another key; ids carry an owner tag", async () => {
    const res = await t.request('/v1/tables/events', sized({ kind: 'a', amount: 1 }, bearer('writer-a')));
    expect(res.status).toBe(202);
    const writeId = (await json(res)).writeId as string;
    expect(parseWriteId(writeId)?.tag).toMatch(/^[0-9a-f]{20}$/);
    expect((await t.request(`/v1/writes/${writeId}`, { headers: bearer('writer-a') })).status).toBe(200);
    expect((await t.request(`/v1/writes/${writeId}`, { headers: bearer('admin') })).status).toBe(200);
    for (const other of ['writer-b', 'reader']) {
      const r = await t.request(`/v1/writes/${writeId}`, { headers: bearer(other) });
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    // Without the tag (node id + counter alone, which are enumerable): not found even for the writer.
    const untagged = writeId.slice(0, writeId.lastIndexOf('.'));
    expect((await t.request(`/v1/writes/${untagged}`, { headers: bearer('writer-a') })).status).toBe(404);
  });

  it('reserves a body\'s Content-Length against SLUICE_MAX_PENDING_BYTES before reading it: 503 + Retry-After, nothing queued', async () => {
    const before = await t.backlog();
    const big = JSON.stringify({ kind: 'x'.repeat(1500), amount: 1 });
    const res = await t.request('/v1/tables/events', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)), ...bearer('writer-a') }, body: big });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await json(res)).detail).toContain('SLUICE_MAX_PENDING_BYTES');
    expect(await t.backlog()).toBe(before);
    // Released: a small one still fits.
    expect((await t.request('/v1/tables/events', sized({ kind: 'b', amount: 1 }, bearer('writer-a')))).status).toBe(202);
    // A body without a length may grow to SLUICE_MAX_BODY_BYTES (4,000 > the budget): refused before reading.
    expect((await t.post('/v1/tables/events', { kind: 'c', amount: 1 }, bearer('writer-a'))).status).toBe(503);
  });

  it('/v1/batch refuses a key without a write scope before reading the body (403, not 400)', async () => {
    const res = await t.post('/v1/batch', 'not json at all {{{', bearer('reader'));
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('/readyz shows settings and details to admin only; /metrics needs admin', async () => {
    const anon = await json(await t.request('/readyz'));
    expect(anon).not.toHaveProperty('knobs');
    expect(anon).not.toHaveProperty('details');
    expect(JSON.stringify(anon)).not.toContain('SLUICE_');
    const admin = await json(await t.request('/readyz', { headers: bearer('admin') }));
    expect(admin).toHaveProperty('knobs');
    expect((await t.request('/metrics')).status).toBe(401);
    expect((await t.request('/metrics', { headers: bearer('writer-a') })).status).toBe(403);
    const m = await t.request('/metrics', { headers: bearer('admin') });
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('sluice_');
  });
});

describe('logs', () => {
  it("a Postgres error's DETAIL (the failing row) never reaches the log; SQLSTATE and constraint do", async () => {
    const t = await startGateway();
    try {
      await t.env.pool.query('CREATE TABLE leaky (id int PRIMARY KEY, email text NOT NULL CHECK (email <> \'\'), card text CHECK (card NOT LIKE \'4%\'))');
      const err = (await t.env.pool.query("INSERT INTO leaky VALUES (1, 'person@example.com', '4111111111111111')").then(
        () => new Error('no error'),
        (e: unknown) => e,
      )) as Error & { detail?: string };
      expect(err.detail).toContain('4111111111111111'); // Postgres does put the row there
      let out = '';
      const sink = new Writable({ write(chunk, _enc, done) { out += String(chunk); done(); } });
      const log = createLogger('leak-test', 'info', sink);
      log.error({ err }, 'batch failed');
      log.warn({ err: Object.assign(new Error('wrapped'), { cause: err }) }, 'wrapped');
      expect(out).toContain('23514');
      expect(out).toContain('leaky_card_check');
      expect(out).not.toContain('4111111111111111');
      expect(out).not.toContain('person@example.com');
    } finally {
      await t.close();
    }
  });
});

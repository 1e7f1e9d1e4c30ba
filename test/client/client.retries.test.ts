/**
 * The retry rules, answer by answer, against a scripted HTTP server that
 * speaks the gateway's contract (status, problem+json, Retry-After, writeId):
 * each case needs an exact sequence of answers that a live gateway gives only
 * under faults (those run for real in test/faults/client.*.test.ts).
 * What is checked: which answers are retried and after how long, that every
 * attempt carries the same Idempotency-Key, and that "failed" and "unknown"
 * are told apart exactly.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SluiceClient,
  SluiceDeadLetteredError,
  SluiceNetworkError,
  SluiceOutcomeUnknownError,
  SluiceUnavailableError,
  SluiceValidationError,
} from '@sluice/client';

interface Seen {
  method: string;
  path: string;
  key: string | undefined;
  at: number;
}
type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/** A server answering request i with answers[i] (the last one repeats). */
async function scripted(answers: Answer[]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, key: req.headers['idempotency-key'] as string | undefined, at: Date.now() });
      const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      const problem = a.status >= 400;
      res.writeHead(a.status, { 'content-type': problem ? 'application/problem+json' : 'application/json', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  server.on('connection', (s) => closers.push(async () => void s.destroy()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const problem = (status: number, slug: string, extra: Record<string, unknown> = {}) => ({ type: `https://sluice.dev/problems/${slug}`, title: slug, status, detail: slug, ...extra });
const queued = { status: 202, body: { writeId: 'p1.node.1.0' } };
const committed = { status: 201, body: { writeId: 'p1.node.1.0', status: 'committed', keys: [{ id: '1' }], affected: [1], token: '0/AB' }, headers: { 'sluice-consistency-token': '0/AB' } };
const unavailable = { status: 503, body: problem(503, 'unavailable'), headers: { 'retry-after': '1' } };
const retry = { baseMs: 20, maxMs: 200 };

function clientFor(url: string, o: { deadlineMs?: number; timeoutMs?: number; fetch?: boolean } = {}) {
  return new SluiceClient({ url, retry: { ...retry, deadlineMs: o.deadlineMs ?? 10_000 }, timeoutMs: o.timeoutMs ?? 2000, ...(o.fetch ? { fetch } : {}) });
}

const keysOf = (seen: Seen[]) => new Set(seen.filter((s) => s.method !== 'GET').map((s) => s.key));

describe.each([{ transport: 'node:http', fetch: false }, { transport: 'fetch', fetch: true }])('retries over $transport', ({ fetch: useFetch }) => {
  it('waits Retry-After after a 503 and sends the same Idempotency-Key again', async () => {
    const s = await scripted([unavailable, queued]);
    const r = await clientFor(s.url, { fetch: useFetch }).insert('t', { a: 1 });
    expect(r).toEqual({ writeId: 'p1.node.1.0', status: 'queued' });
    expect(s.seen).toHaveLength(2);
    expect(keysOf(s.seen).size).toBe(1);
    expect(s.seen[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.seen[1]!.at - s.seen[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it('reports a refused connection as failed: nothing was sent', async () => {
    const port = await new Promise<number>((r) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => r(p));
      });
    });
    const err = await clientFor(`http://127.0.0.1:${port}`, { deadlineMs: 600, fetch: useFetch }).insert('t', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceNetworkError);
    expect(err).toMatchObject({ kind: 'network', outcome: 'failed', sent: false });
  });

  it('reports a request that never got an answer as unknown once the deadline passed', async () => {
    const srv = net.createServer((sock) => sock.on('data', () => {})).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    closers.push(async () => {
      srv.close();
    });
    const t0 = Date.now();
    const err = await clientFor(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`, { deadlineMs: 1200, timeoutMs: 300, fetch: useFetch }).insert('t', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceOutcomeUnknownError);
    expect(err).toMatchObject({ outcome: 'unknown', kind: 'timeout' });
    expect((err as SluiceOutcomeUnknownError).attempts).toBeGreaterThanOrEqual(2);
    expect(Date.now() - t0).toBeLessThan(1200 + 500);
  });
});

describe('retry rules', () => {
  it('never retries a 4xx: a validation error fails at once', async () => {
    const s = await scripted([{ status: 400, body: problem(400, 'validation', { errors: [{ pointer: '/a', detail: 'bad' }] }) }, queued]);
    const err = await clientFor(s.url).insert('t', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceValidationError);
    expect(err).toMatchObject({ outcome: 'failed', status: 400 });
    expect(s.seen).toHaveLength(1);
  });

  it('reports 503 until the deadline as failed: no attempt was accepted', async () => {
    const s = await scripted([{ ...unavailable, headers: { 'retry-after': '0' } }]);
    const err = await clientFor(s.url, { deadlineMs: 500 }).insert('t', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceUnavailableError);
    expect(err).toMatchObject({ outcome: 'failed', status: 503 });
    expect(s.seen.length).toBeGreaterThan(2);
    expect(keysOf(s.seen).size).toBe(1);
  });

  it('retries a 503 "writeStatus unknown" with the same key, and says unknown if nothing settles it', async () => {
    const unconfirmed = { status: 503, body: problem(503, 'enqueue-unconfirmed', { writeId: 'p2.x.7.0', writeStatus: 'unknown' }), headers: { 'retry-after': '0' } };
    const s1 = await scripted([unconfirmed, committed]);
    expect(await clientFor(s1.url).insert('t', { a: 1 }, { ack: 'committed' })).toMatchObject({ status: 'committed', token: '0/AB', keys: [{ id: '1' }] });
    expect(keysOf(s1.seen).size).toBe(1);

    const s2 = await scripted([unconfirmed, { ...unavailable, headers: { 'retry-after': '0' } }]);
    const err = await clientFor(s2.url, { deadlineMs: 500 }).insert('t', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceOutcomeUnknownError);
    expect(err).toMatchObject({ outcome: 'unknown', writeId: 'p2.x.7.0' });
  });

  it('waits out a 409 "key in flight" and takes the replayed answer', async () => {
    const s = await scripted([{ status: 409, body: problem(409, 'idempotency-key-in-flight'), headers: { 'retry-after': '0' } }, { ...committed, headers: { 'idempotent-replayed': 'true', 'sluice-consistency-token': '0/AB' } }]);
    const r = await clientFor(s.url).insert('t', { a: 1 }, { ack: 'committed', idempotencyKey: 'mine' });
    expect(r).toMatchObject({ status: 'committed', replayed: true });
    expect([...keysOf(s.seen)]).toEqual(['mine']);
  });

  it('settles a write stuck behind its own key (409) by the status of the writeId an earlier attempt named', async () => {
    const s = await scripted([
      { status: 503, body: problem(503, 'enqueue-unconfirmed', { writeId: 'p2.w.1.0', writeStatus: 'unknown' }), headers: { 'retry-after': '0' } },
      { status: 409, body: problem(409, 'idempotency-key-in-flight'), headers: { 'retry-after': '0' } },
      { status: 200, body: { writeId: 'p2.w.1.0', status: 'queued', state: 'waiting' } },
    ]);
    expect(await clientFor(s.url).insert('t', { a: 1 })).toEqual({ writeId: 'p2.w.1.0', status: 'queued' });
    expect(s.seen.map((x) => x.method)).toEqual(['POST', 'POST', 'GET']);
  });

  it('polls the write status after a 504 until committed', async () => {
    const s = await scripted([
      { status: 504, body: problem(504, 'commit-timeout', { writeId: 'p3.y.1.0', writeStatus: 'queued' }) },
      { status: 200, body: { writeId: 'p3.y.1.0', status: 'queued', state: 'active' } },
      { status: 200, body: { writeId: 'p3.y.1.0', status: 'committed', token: '1/F', committedAt: '2026-12-01T10:00:00Z' } },
    ]);
    const r = await clientFor(s.url).update('t', 5, { a: 2 }, { ack: 'committed' });
    expect(r).toEqual({ writeId: 'p3.y.1.0', status: 'committed', token: '1/F', keys: [], affected: [], committedAt: '2026-12-01T10:00:00Z', replayed: true });
    expect(s.seen.map((x) => `${x.method} ${x.path}`)).toEqual(['PATCH /v1/tables/t/5', 'GET /v1/writes/p3.y.1.0', 'GET /v1/writes/p3.y.1.0']);
  });

  it('fails a 504 whose write was then dead-lettered: it was never applied', async () => {
    const s = await scripted([
      { status: 504, body: problem(504, 'commit-timeout', { writeId: 'p3.z.1.0', writeStatus: 'queued' }) },
      { status: 200, body: { writeId: 'p3.z.1.0', status: 'dead', sqlstate: '23505', message: 'duplicate key', deadAt: '2026-12-01T10:00:00Z' } },
    ]);
    const err = await clientFor(s.url).delete('t', ['a,b', 2], { ack: 'committed' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceDeadLetteredError);
    expect(err).toMatchObject({ outcome: 'failed', sqlstate: '23505', writeId: 'p3.z.1.0' });
    expect(s.seen[0]!.path).toBe('/v1/tables/t/a%2Cb,2'); // the comma inside a key value stays inside it
  });

  it('says unknown when a 504\'s write is still queued at the deadline, with its writeId', async () => {
    const s = await scripted([{ status: 504, body: problem(504, 'commit-timeout', { writeId: 'p0.q.1.0' }) }, { status: 200, body: { writeId: 'p0.q.1.0', status: 'queued' } }]);
    const err = await clientFor(s.url, { deadlineMs: 600 }).insert('t', { a: 1 }, { ack: 'committed' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SluiceOutcomeUnknownError', outcome: 'unknown', writeId: 'p0.q.1.0' });
  });

  it('retries a 500 (it may have been applied) under the same key', async () => {
    const s = await scripted([{ status: 500, body: problem(500, 'internal') }, queued]);
    expect(await clientFor(s.url).upsert('t', { a: 1 })).toMatchObject({ status: 'queued' });
    expect(keysOf(s.seen).size).toBe(1);
  });

  it('retries reads on 503 and reads a 404 of a by-key lookup as null', async () => {
    const s = await scripted([unavailable, { status: 200, body: { id: 1 } }, { status: 404, body: problem(404, 'not-found'), headers: { 'sluice-source': 'primary' } }]);
    const c = clientFor(s.url);
    expect(await c.get('t', 1)).toEqual({ id: 1 });
    expect(await c.get('t', 2)).toBeNull();
  });
});

/**
 * RELIABILITY rows 18 and 19 over real sockets: oversized bodies, chunked
 * bodies with no length and lying Content-Length headers get 413 (or a 400
 * from Node's HTTP parser) with nothing enqueued and without the server
 * buffering past the limit; a body trickling in is cut by the request timeout
 * while other clients are served.
 */
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listen } from '@sluice/gateway/server.ts';
import { startGateway, type TestGateway } from './support.ts';

const LIMIT = 4096;

/** A raw HTTP/1.1 client: what it writes is exactly what the server sees. */
class RawClient {
  readonly socket: Socket;
  private data = '';
  readonly closed: Promise<void>;
  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('data', (b) => (this.data += b.toString('latin1')));
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
  write(s: string | Buffer): boolean {
    return this.socket.write(s);
  }
  /** Resolves with the status line once a full response head arrived. */
  async status(timeoutMs = 5000): Promise<{ status: number; raw: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.data.includes('\r\n\r\n')) {
      if (Date.now() > deadline) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(this.data)?.[1]), raw: this.data };
  }
}

function head(method: string, path: string, headers: Record<string, string>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

describe('server: body limits and slow bodies over real sockets', () => {
  let t: TestGateway;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_MAX_BODY_BYTES: String(LIMIT), SLUICE_REQUEST_TIMEOUT_MS: '1500' } });
    ({ server, port } = await listen(t.gw.app, { host: '127.0.0.1', port: 0, requestTimeoutMs: t.config.SLUICE_REQUEST_TIMEOUT_MS }));
  });
  afterEach(async () => {
    expect(await t.backlog()).toBe(0);
  });
  afterAll(async () => {
    if (server) await closeServer(server, 1000);
    await t?.close();
  });

  it('413 problem+json for a declared Content-Length over the limit, before the body is sent', async () => {
    const c = new RawClient(port);
    c.write(head('POST', '/v1/tables/events', { 'Content-Type': 'application/json', 'Content-Length': String(LIMIT * 100) }));
    const r = await c.status();
    expect(r.status).toBe(413);
    expect(r.raw).toMatch(/content-type: application\/problem\+json/i);
    c.socket.destroy();
  });

  it('413 for a chunked body with no length, answered as soon as the limit is crossed', async () => {
    const c = new RawClient(port);
    c.write(head('POST', '/v1/tables/events', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }));
    const chunk = '{"kind":"a","amount":1,"payload":"' + 'x'.repeat(LIMIT) + '"}';
    c.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    // No terminating chunk: the server must not wait for the end of the body.
    const r = await c.status();
    expect(r.status).toBe(413);
    expect(r.raw).toMatch(/connection: close/i);
    c.socket.destroy();
  });

  it('a Content-Length smaller than the body: only that many bytes are the body, the rest is refused by the parser', async () => {
    const c = new RawClient(port);
    const body = JSON.stringify({ kind: 'a', amount: 1, payload: 'y'.repeat(LIMIT * 4) });
    c.write(head('POST', '/v1/tables/events', { 'Content-Type': 'application/json', 'Content-Length': '20' }) + body);
    const r = await c.status();
    expect(r.status).toBe(400);
    await c.closed;
  });

  it('Content-Length and Transfer-Encoding together are refused (request smuggling guard)', async () => {
    const c = new RawClient(port);
    c.write(head('POST', '/v1/tables/events', { 'Content-Type': 'application/json', 'Content-Length': '5', 'Transfer-Encoding': 'chunked' }) + '5\r\n{"a":\r\n0\r\n\r\n');
    const r = await c.status();
    expect(r.status).toBe(400);
    c.socket.destroy();
  });

  it('in-process too: a body larger than its Content-Length claims is counted and refused', async () => {
    const body = JSON.stringify({ kind: 'a', amount: 1, payload: 'z'.repeat(LIMIT * 2) });
    const res = await t.request('/v1/tables/events', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '10' }, body });
    expect(res.status).toBe(413);
  });

  it('a body at 1 byte per 200 ms is cut at SLUICE_REQUEST_TIMEOUT_MS; other clients are served meanwhile', async () => {
    const slow = new RawClient(port);
    slow.write(head('POST', '/v1/tables/events', { 'Content-Type': 'application/json', 'Content-Length': '1000' }));
    const trickle = setInterval(() => slow.write('{'), 200);
    try {
      const started = Date.now();
      const fast = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(fast.status).toBe(200);
      await slow.closed;
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(1000);
      expect(took).toBeLessThan(6000);
    } finally {
      clearInterval(trickle);
    }
  });
});

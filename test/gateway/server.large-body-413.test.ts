/**
 * Issue 11, finding 5: a 20 MB body with Content-Length got no answer at all:
 * the gateway answered 413 and closed while the client was still sending, and
 * the kernel reset the connection (unread data) before the client could read
 * the 413. Now the gateway closes lingeringly (FIN after the answer, then it
 * reads and discards what still arrives, bounded), so the client gets its
 * 413 problem+json; nothing is enqueued. Node-level rejections (a header
 * block too large: 431; a malformed request: 400) answer with a problem body.
 */
import { request } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listen } from '@sluice/gateway/server.ts';
import { startGateway, type TestGateway } from './support.ts';

let t: TestGateway;
let server: Server;
let port: number;

beforeAll(async () => {
  t = await startGateway();
  const l = await listen(t.gw.app, { host: '127.0.0.1', port: 0, requestTimeoutMs: 30_000 });
  server = l.server;
  port = l.port;
});
afterAll(async () => {
  if (server) await closeServer(server, 1000);
  await t?.close();
});

/** POST `body` with its Content-Length through node:http; the answer, or the socket error. */
function post(body: Buffer): Promise<{ status: number; type: string | undefined; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/tables/events', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], text }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    // Sent the way a real upload arrives, over a second or so: still sending when the 413 goes out.
    const CHUNK = 256 * 1024;
    let at = 0;
    const next = () => {
      if (req.destroyed) return;
      if (at >= body.length) return void req.end();
      req.write(body.subarray(at, at + CHUNK));
      at += CHUNK;
      setTimeout(next, 10);
    };
    next();
  });
}

/** Send raw bytes; resolves with everything the server answered before it closed. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    s.on('data', (b) => (data += b.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(data));
    s.write(bytes);
    setTimeout(() => s.end(), 500);
  });
}

describe('large bodies and Node-level rejections', () => {
  it('a 20 MB body with Content-Length gets its 413 problem+json, every time; nothing is queued', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 0x20);
    for (let i = 0; i < 3; i++) {
      const r = await post(body);
      expect(r).toMatchObject({ status: 413, type: 'application/problem+json' });
      expect(JSON.parse((r as { text: string }).text)).toMatchObject({ status: 413 });
    }
    expect(await t.backlog()).toBe(0);
  });

  it('431 for a header block too large, with a problem+json body', async () => {
    const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431/);
    expect(answer.toLowerCase()).toContain('content-type: application/problem+json');
    expect(answer).toContain('"status":431');
  });

  it('400 for a malformed request line, with a problem+json body', async () => {
    const answer = await raw('NOT A REQUEST\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(answer.toLowerCase()).toContain('content-type: application/problem+json');
  });
});

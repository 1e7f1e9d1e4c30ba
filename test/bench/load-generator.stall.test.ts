// The load generator must always end, and send what it announces. Regressions
// of a stalled `pnpm bench` run: a string request (a `{key}` in path or body)
// was written as latin1 while its Content-Length counted UTF-8 bytes, so a body
// with a non-ASCII character arrived short and the server waited for the rest
// forever; and nothing bounded a request never answered, or a server gone
// (a closed connection reconnects, and only a connected one learns the window
// is over). Behaviour only; no timing beyond generous bounds.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load/generator.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

describe('load generator: never stalls', () => {
  it('sends a non-ASCII body with {key} whole: every request answered, every body parses', async () => {
    let parsed = 0;
    const { port } = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { d: string; k: string };
        if (body.d === 'café … ✓' && /^\d+$/.test(body.k)) parsed += 1;
        res.end('ok');
      });
    });
    const r = await runLoad({ name: 'utf8', ports: [port], method: 'POST', path: '/x/{key}', body: '{"d":"café … ✓","k":"{key}"}', keys: { mode: 'seq', start: 1 }, connections: 2, durationMs: 400, warmupMs: 0, progressMs: 0, drainMs: 3000 });
    expect(r.unfinished).toBe(0);
    expect(r.errors).toBe(0);
    expect(r.requests).toBeGreaterThan(0);
    expect(parsed).toBeGreaterThanOrEqual(r.requests);
  });

  it('ends drainMs after the window when a request is never answered, and says so', async () => {
    let n = 0;
    const { port } = await serve((_req, res) => {
      if (++n === 3) return; // never answered
      res.end('ok');
    });
    const t0 = performance.now();
    const r = await runLoad({ name: 'silent', ports: [port], method: 'GET', path: '/x', connections: 2, durationMs: 300, warmupMs: 0, progressMs: 0, drainMs: 500 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.unfinished).toBe(1);
  });

  it('ends when the server goes away during the window (no endless reconnecting)', async () => {
    const { server, port } = await serve((_req, res) => res.end('ok'));
    setTimeout(() => {
      server.close();
      server.closeAllConnections();
    }, 100);
    const t0 = performance.now();
    const r = await runLoad({ name: 'gone', ports: [port], method: 'GET', path: '/x', connections: 3, durationMs: 300, warmupMs: 0, progressMs: 0, drainMs: 500 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.unfinished).toBe(3);
  });
});

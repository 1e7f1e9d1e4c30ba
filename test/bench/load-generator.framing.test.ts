// The bench's load generator parses HTTP/1.1 itself (bench/load/http1.ts) to
// stay cheap: every response must be counted once, whatever its framing, or
// req/s and latency percentiles are wrong. Behaviour only; no timing.
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Histogram } from '../../bench/load/histogram.ts';
import { Http1Connection } from '../../bench/load/http1.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen(s: Server): Promise<number> {
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

/** Send `n` GETs over one connection; resolve with the statuses seen, in order. */
function run(port: number, n: number): Promise<number[]> {
  const seen: number[] = [];
  let sent = 0;
  const req = Buffer.from(`GET /x HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  return new Promise((resolve) => {
    new Http1Connection(port, '127.0.0.1', () => (sent++ < n ? req : null), (status) => seen.push(status), () => resolve(seen));
  });
}

const http = (handler: RequestListener) => listen(createHttpServer({ keepAlive: true }, handler));

describe('load generator HTTP/1.1 client', () => {
  it('counts each Content-Length response once on a kept-alive connection', async () => {
    const port = await http((_req, res) => res.writeHead(202, { 'Content-Length': '5' }).end('hello'));
    expect(await run(port, 50)).toEqual(Array(50).fill(202));
  });

  it('finds the end of chunked responses, with chunk extensions and trailers', async () => {
    const port = await http((_req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked', Trailer: 'x-done' });
      res.write('a'.repeat(300));
      res.write('b');
      res.addTrailers({ 'x-done': '1' });
      res.end();
    });
    expect(await run(port, 20)).toEqual(Array(20).fill(200));
  });

  it('reassembles a response whose header and body arrive in pieces', async () => {
    const reply = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCONTENT-LENGTH: 11\r\n\r\nnot here :(';
    const port = await listen(
      createNetServer((sock) => {
        sock.on('data', async () => {
          for (const part of [reply.slice(0, 7), reply.slice(7, 40), reply.slice(40, reply.length - 3), reply.slice(-3)]) {
            sock.write(part);
            await new Promise((r) => setTimeout(r, 2));
          }
        });
      }),
    );
    expect(await run(port, 5)).toEqual(Array(5).fill(404));
  });

  it('reconnects after `Connection: close` and after bodiless 204s keeps going', async () => {
    let i = 0;
    const port = await http((_req, res) => {
      if (i++ % 2 === 0) res.writeHead(200, { Connection: 'close', 'Content-Length': '2' }).end('ok');
      else res.writeHead(204).end();
    });
    expect(await run(port, 6)).toEqual([200, 204, 200, 204, 200, 204]);
  });
});

describe('latency histogram', () => {
  it('reports percentiles within 1 % of the exact ones', () => {
    const h = new Histogram();
    for (let us = 1; us <= 100_000; us++) h.record(us / 1000);
    const s = h.summary();
    expect(s.p50).toBeCloseTo(50, 0);
    expect(Math.abs(s.p95 - 95) / 95).toBeLessThan(0.01);
    expect(Math.abs(s.p99 - 99) / 99).toBeLessThan(0.01);
    expect(s.max).toBe(100);
    expect(s.mean).toBeCloseTo(50, 1);
  });
});

import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Hono } from 'hono';
import type { GatewayEnv } from './context.ts';

/** Where and how long to listen. */
export interface ListenOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** SLUICE_REQUEST_TIMEOUT_MS: a request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
}

/**
 * Serve the app with @hono/node-server and the timeouts that keep slow
 * clients from holding connections: a body trickling at 1 byte/s is cut at
 * the request timeout, headers much sooner. Resolves once listening.
 */
export async function listen(app: Hono<GatewayEnv>, o: ListenOptions): Promise<{ server: Server; port: number }> {
  const server = serve({
    fetch: app.fetch,
    port: o.port,
    hostname: o.host,
    serverOptions: {
      requestTimeout: o.requestTimeoutMs,
      headersTimeout: Math.min(o.requestTimeoutMs, 10_000),
      keepAliveTimeout: 5_000,
      // Node checks the two timeouts above on this period (default 30 s): keep it well under them.
      connectionsCheckingInterval: Math.min(1_000, o.requestTimeoutMs),
    },
  }) as Server;
  server.on('connection', lingerOnClose);
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : o.port };
}

/** How long a closing connection keeps reading (and discarding) what the client still sends. */
const LINGER_MS = 2_000;
/** The same after one of Node's own rejections (a timeout, a bad header block). */
const CLIENT_ERROR_LINGER_MS = 500;

/**
 * Close lingeringly (as Apache's lingering_close): Node ends a connection it
 * will not keep alive (a 413 sets `Connection: close`) with destroySoon(),
 * which closes the socket while the client may still be sending its body;
 * the kernel then answers the unread bytes with a reset, and a client that
 * had not read the 413 yet sees only ECONNRESET (a 20 MB upload did). Here
 * the socket sends its FIN after the answer, keeps reading and discarding
 * until the client closes its side or LINGER_MS pass, then is destroyed.
 */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    if (this.destroyed) return;
    this.end();
    const done = () => {
      clearTimeout(timer);
      this.destroy();
    };
    const timer = setTimeout(done, LINGER_MS);
    timer.unref();
    this.once('end', done);
    this.once('close', () => clearTimeout(timer));
    this.on('data', () => {}); // discard
    this.resume();
  };
}

/** Node's own rejections (before the app sees a request), as RFC 9457 problems: a header block too large, a malformed request, a request timeout. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') return void socket.destroy();
  const code = err.code ?? '';
  const [status, title, detail] =
    code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'the request header block is larger than this server accepts']
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request did not arrive within SLUICE_REQUEST_TIMEOUT_MS']
        : [400, 'Bad Request', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  socket.end(`HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  // end() only half-closes: a client still trickling its body (row 19) would hold the socket open
  // for ever. Read and discard a moment, so it can read the answer, then close (not LINGER_MS:
  // these requests carry no large body whose upload the answer must outlast).
  const timer = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.on('data', () => {});
  socket.resume();
}

/**
 * Stop accepting, let in-flight requests finish, close idle keep-alive
 * connections as they go idle; after `graceMs` close whatever is left.
 */
export function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    idle.unref();
    force.unref();
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
  });
}

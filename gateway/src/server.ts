import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
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
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : o.port };
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

import { createServer } from 'node:net';

function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A TCP port that was free on `host` a moment ago: `preferred` when it is free
 * (stable URLs for `pnpm dev`), else one the kernel picks. Another process may
 * take it before the caller binds it, so servers started on an auto-picked port
 * retry with a new one when the bind fails.
 */
export async function freePort(preferred?: number, host = '127.0.0.1'): Promise<number> {
  if (preferred !== undefined) {
    const got = await tryListen(preferred, host);
    if (got !== undefined) return got;
  }
  const got = await tryListen(0, host);
  if (got === undefined) throw new Error(`no free TCP port on ${host}`);
  return got;
}

/**
 * A TCP proxy (node:net) that delays every chunk by a fixed time in each
 * direction, keeping order. Put between a client and Redis it makes each
 * round trip slow the way a CPU-starved process sees it (a reply waits for
 * the event loop), without starving the test's own timers.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running latency proxy. */
export class LatencyProxy {
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  /** Listen on a free loopback port; forward to `target`, each chunk `delayMs` late. */
  static async start(target: { host: string; port: number }, delayMs: number): Promise<LatencyProxy> {
    const server = net.createServer();
    const proxy = new LatencyProxy(server);
    server.on('connection', (client) => proxy.pair(client, target, delayMs));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  /** The proxy's port on 127.0.0.1. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private pair(client: net.Socket, target: { host: string; port: number }, delayMs: number): void {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
    }
    // Same delay for every chunk of a direction, so timers fire in arrival order: order is kept.
    client.on('data', (chunk: Buffer) => void setTimeout(() => upstream.write(chunk), delayMs));
    upstream.on('data', (chunk: Buffer) => void setTimeout(() => client.write(chunk), delayMs));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Close the listener and every connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

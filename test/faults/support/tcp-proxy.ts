/**
 * A TCP proxy (node:net) between a client and a server (a gateway, or
 * Postgres as the moving address of a failover: `moveTo`) that cuts
 * connections on purpose. While cutting, each chunk passing through is,
 * with the given probability, dropped and both sockets destroyed:
 *   toServer: the request is cut before (part of) it reached the gateway;
 *   toClient: the gateway handled the request but its answer is lost —
 *             the case only an Idempotency-Key makes safe to retry.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** Cut probabilities per chunk, by direction. */
export interface CutPolicy {
  toServer: number;
  toClient: number;
}

/** A running proxy. */
export class TcpProxy {
  /** Connections cut so far, by direction. */
  readonly cuts = { toServer: 0, toClient: 0 };
  private policy: CutPolicy = { toServer: 0, toClient: 0 };
  private swallow = 0;
  private readonly frozen = new WeakSet<net.Socket>();
  /** Chunks dropped by `swallowToClient`. */
  swallowed = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private target: { host: string; port: number },
  ) {}

  /** Listen on a free loopback port and forward to `target` (host:port). */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (client) => proxy.pair(client, proxy.target));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Forward new connections to `target` from now on and cut every open one,
   * as a virtual IP, a DNS change or a PgBouncer/HAProxy reconfiguration
   * does when an operator moves a database address after a failover.
   */
  moveTo(target: { host: string; port: number }): void {
    this.target = target;
    for (const s of this.sockets) s.destroy();
  }

  /** Start (or change) cutting. */
  cut(policy: CutPolicy): void {
    this.policy = policy;
  }

  /** Forward everything again. */
  heal(): void {
    this.policy = { toServer: 0, toClient: 0 };
  }

  /**
   * Connections open now stop delivering anything to their clients (silently,
   * kept open: a half-dead peer, a frozen middlebox); new connections work.
   */
  freezeOpenConnections(): void {
    for (const s of this.sockets) this.frozen.add(s);
  }

  /**
   * Silently drop the next `n` chunks going to clients and keep the
   * connections open: a message lost on a connection that still looks alive.
   */
  swallowToClient(n: number): void {
    this.swallow = n;
  }

  private pair(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {}); // a cut socket errors on the other side: expected
    }
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (Math.random() < this.policy.toServer) {
        this.cuts.toServer++;
        return kill();
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.frozen.has(client)) return;
      if (this.swallow > 0) {
        this.swallow -= 1;
        this.swallowed += 1;
        return;
      }
      if (Math.random() < this.policy.toClient) {
        this.cuts.toClient++;
        return kill();
      }
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Close the listener and every connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { reapOnExit, removeDirAfterExit, signalPid, spawnServer, stopServer, waitReady, type LogFn, type ServerChild } from './child.ts';
import { freePort } from './free-port.ts';

const FATAL = new Set<NodeJS.Signals>(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT']);

/** Options of `startRedis`. The defaults are the settings Sluice requires in production. */
export interface StartRedisOptions {
  /** Working folder (AOF lives in `<dir>/appendonlydir`). Default: a new temp folder, removed by `destroy()` or at exit. */
  dir?: string;
  /** Default: a free port. */
  port?: number;
  /** Default true: without AOF a restart loses every queued job. */
  appendonly?: boolean;
  /** Default 'always': a `queued` ack then survives a Redis crash. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Default 'noeviction': any other policy may delete queued jobs under memory pressure. */
  maxmemoryPolicy?: string;
  /** e.g. '20mb' (for out-of-memory tests). Default: unlimited. */
  maxmemory?: string | number;
  /** More `--name value` arguments (e.g. the cluster settings of redis-cluster.ts). */
  extraArgs?: readonly string[];
  log?: LogFn;
}

/** A Redis server we started, as a child process of this one. */
export interface LocalRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Pid of the current (or last) run; 0 before the first start. */
  readonly pid: number;
  /** Start again on the same folder and port (reloading the AOF), e.g. after SIGKILL; waits until PING answers. */
  start(): Promise<void>;
  /** SIGTERM (Redis flushes the AOF and exits). Idempotent. */
  stop(): Promise<void>;
  /** Signal the server: SIGKILL, SIGSTOP, SIGCONT… */
  kill(signal: NodeJS.Signals): void;
  /** Stop, then delete the folder if we created it. */
  destroy(): Promise<void>;
}

/** One raw PING: true on +PONG, false on -LOADING (AOF replay), errors or silence. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolvePing(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

class RedisServer implements LocalRedis {
  private current: ServerChild | undefined;
  private stopping: Promise<void> | undefined;
  private unreap: (() => void) | undefined;
  private readonly unreapDir: (() => void) | undefined;
  private started = false;
  private fatalSent = false;

  constructor(
    readonly dir: string,
    public port: number,
    private readonly o: StartRedisOptions,
    private readonly autoPort: boolean,
    private readonly ownsDir: boolean,
  ) {
    if (ownsDir) this.unreapDir = reapOnExit(() => removeDirAfterExit(this.current?.child.pid, dir));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.current?.child.pid ?? 0;
  }

  private args(): string[] {
    const o = this.o;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--daemonize', 'no', '--logfile', ''];
    args.push('--appendonly', o.appendonly === false ? 'no' : 'yes', '--appendfsync', o.appendfsync ?? 'always');
    args.push('--maxmemory-policy', o.maxmemoryPolicy ?? 'noeviction');
    args.push('--save', ''); // no RDB snapshots: AOF (or nothing) is the persistence under test
    if (o.maxmemory !== undefined) args.push('--maxmemory', String(o.maxmemory));
    if (o.extraArgs) args.push(...o.extraArgs);
    return args;
  }

  async start(): Promise<void> {
    // Right after kill('SIGKILL') the exit event hasn't arrived yet: wait for it
    // rather than mistake a dying server for a running one.
    if (this.current && !this.current.exit && this.fatalSent) await this.current.exited;
    if (this.current && !this.current.exit) return;
    this.fatalSent = false;
    for (let attempt = 1; ; attempt++) {
      const sc = spawnServer('redis-server', this.args(), { cwd: this.dir, log: this.o.log });
      this.current = sc;
      this.unreap?.();
      // SIGTERM still lets Redis flush its AOF after we are gone.
      this.unreap = reapOnExit(() => {
        signalPid(sc.child.pid, 'SIGCONT');
        signalPid(sc.child.pid, 'SIGTERM');
      });
      if (await waitReady(sc, Date.now() + 60_000, { ready: () => ping(this.port), pollMs: 25, timeoutSignal: 'SIGKILL', timeoutNote: '(timed out waiting for PING)' })) {
        this.started = true;
        return;
      }
      const out = sc.tail.join('\n');
      if (!this.started && this.autoPort && /Address already in use/i.test(out) && attempt < 4) {
        this.port = await freePort();
        continue;
      }
      throw new Error(`redis-server (dir ${this.dir}, port ${this.port}) did not start:\n${out}`);
    }
  }

  stop(): Promise<void> {
    const sc = this.current;
    if (!sc || sc.exit) return this.stopping ?? Promise.resolve();
    this.stopping ??= (async () => {
      await stopServer(sc, 'SIGTERM', 15_000); // SIGTERM: Redis flushes its AOF
      this.unreap?.();
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  kill(signal: NodeJS.Signals): void {
    if (FATAL.has(signal)) this.fatalSent = true;
    signalPid(this.current?.child.pid, signal);
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownsDir) {
      rmSync(this.dir, { recursive: true, force: true });
      this.unreapDir?.();
    }
  }
}

/**
 * Start a private `redis-server` as a child process (AOF on with
 * appendfsync always and noeviction by default: the settings the gateway
 * requires), resolved once PING answers.
 */
export async function startRedis(o: StartRedisOptions = {}): Promise<LocalRedis> {
  const ownsDir = o.dir === undefined;
  const dir = resolve(o.dir ?? mkdtempSync(join(tmpdir(), 'sluice-redis-')));
  mkdirSync(dir, { recursive: true });
  const server = new RedisServer(dir, o.port ?? (await freePort()), o, o.port === undefined, ownsDir);
  try {
    await server.start();
  } catch (err) {
    await server.destroy().catch(() => {});
    throw err;
  }
  return server;
}

import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { postgresOsUser, reapOnExit, removeDirAfterExit, runTool, signalPid, sleep, spawnServer, stopServer, waitExit, waitReady, type LogFn, type RunAs, type ServerChild } from './child.ts';
import { freePort } from './free-port.ts';
import { pgTool } from './pg-bin.ts';

const FATAL = new Set<NodeJS.Signals>(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT']);

/** Options of `startPostgres`. */
export interface StartPostgresOptions {
  /** Data folder; initdb'd when missing or empty, reused otherwise. Default: a new temp folder, removed by `destroy()` or at exit. */
  dataDir?: string;
  /** Default: a free port. */
  port?: number;
  /**
   * `false` sets fsync=off: fast, and still safe against a Postgres crash
   * (SIGKILL, immediate stop: the OS keeps the written pages), not against an
   * OS crash. synchronous_commit stays on either way, so a COMMIT that
   * returned survives a Postgres crash, which the fault tests rely on.
   * Default true.
   */
  fsync?: boolean;
  /** Each line Postgres prints. Default: kept in memory only, shown if start fails. */
  log?: LogFn;
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string | number>;
}

/** Options of `startReplica`. */
export type StartReplicaOptions = Omit<StartPostgresOptions, 'dataDir'> & { dataDir?: string };

/** A Postgres server we started, as a child process of this one. */
export interface LocalPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Postmaster pid of the current (or last) run; 0 before the first start. */
  readonly pid: number;
  /** Start again on the same data folder and port (after stop, stopImmediate or kill); waits until it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT: roll back sessions, checkpoint, exit). Idempotent. */
  stop(): Promise<void>;
  /** `pg_ctl stop -m immediate`: a crash-like stop; the next start runs crash recovery. */
  stopImmediate(): Promise<void>;
  /** Signal the postmaster: SIGKILL, SIGSTOP, SIGCONT… */
  kill(signal: NodeJS.Signals): void;
  /** Stop, then delete the data folder if we created it. */
  destroy(): Promise<void>;
}

interface ServerConfig {
  fsync: boolean;
  log: LogFn | undefined;
  settings: Record<string, string | number>;
  runAs: RunAs | undefined;
  /** The port was picked by us, so a lost bind race may pick another before the first start. */
  autoPort: boolean;
  ownsDir: boolean;
}

// Unix socket paths are limited to 107 bytes; deep data folders go TCP-only.
function socketDir(dataDir: string): string {
  return dataDir.length + '/.s.PGSQL.65535.lock'.length < 100 ? dataDir : '';
}

async function isReady(port: number): Promise<boolean> {
  try {
    // Exit 0 only once the server accepts connections (a standby: once consistent).
    await runTool(pgTool('pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '2'], { cwd: '/' });
    return true;
  } catch {
    return false;
  }
}

class PostgresServer implements LocalPostgres {
  private current: ServerChild | undefined;
  private stopping: Promise<void> | undefined;
  private unreap: (() => void) | undefined;
  private unreapDir: (() => void) | undefined;
  private started = false;
  private fatalSent = false;

  constructor(
    readonly dataDir: string,
    public port: number,
    private readonly cfg: ServerConfig,
  ) {
    // SIGKILL of the test runner can't be caught; any other exit removes temp folders.
    if (cfg.ownsDir) this.unreapDir = reapOnExit(() => removeDirAfterExit(this.current?.child.pid, dataDir));
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get pid(): number {
    return this.current?.child.pid ?? 0;
  }

  private args(): string[] {
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: socketDir(this.dataDir),
      wal_level: 'replica',
      max_wal_senders: 10,
      max_replication_slots: 10,
      wal_keep_size: '256MB', // a replica that lags a little can still catch up without a slot
      hot_standby: 'on',
      max_connections: 200, // parallel test files each open pools
      fsync: this.cfg.fsync ? 'on' : 'off',
      ...this.cfg.settings,
    };
    return ['-D', this.dataDir, '-p', String(this.port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  }

  async start(): Promise<void> {
    // Right after kill('SIGKILL') the exit event hasn't arrived yet: wait for it
    // rather than mistake a dying server for a running one.
    if (this.current && !this.current.exit && this.fatalSent) await this.current.exited;
    if (this.current && !this.current.exit) return;
    this.fatalSent = false;
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      const sc = spawnServer(pgTool('postgres'), this.args(), { cwd: this.dataDir, runAs: this.cfg.runAs, log: this.cfg.log });
      this.current = sc;
      this.unreap?.();
      // SIGQUIT = immediate shutdown: the postmaster takes its backends with it.
      this.unreap = reapOnExit(() => {
        signalPid(sc.child.pid, 'SIGCONT');
        signalPid(sc.child.pid, 'SIGQUIT');
      });
      if (await waitReady(sc, deadline, { ready: () => isReady(this.port), pollMs: 50, timeoutSignal: 'SIGQUIT', timeoutNote: '(timed out waiting for postgres to accept connections)' })) {
        this.started = true;
        return;
      }
      const out = sc.tail.join('\n');
      // After SIGKILL of a postmaster its backends notice and exit within
      // moments; until they do, the old shared memory block is "still in use".
      if (/still in use/i.test(out) && attempt < 50 && Date.now() < deadline) {
        await sleep(200);
        continue;
      }
      if (!this.started && this.cfg.autoPort && /Address already in use/i.test(out) && attempt < 4) {
        this.port = await freePort();
        continue;
      }
      throw new Error(`postgres (data ${this.dataDir}, port ${this.port}) did not start:\n${out}`);
    }
  }

  stop(): Promise<void> {
    const sc = this.current;
    if (!sc || sc.exit) return this.stopping ?? Promise.resolve();
    this.stopping ??= (async () => {
      await stopServer(sc, 'SIGINT', 30_000, 'SIGQUIT'); // fast shutdown, then immediate
      this.unreap?.();
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  async stopImmediate(): Promise<void> {
    const sc = this.current;
    if (!sc || sc.exit) return;
    signalPid(sc.child.pid, 'SIGCONT');
    // -W: don't let pg_ctl poll; we wait for our own child to exit.
    await runTool(pgTool('pg_ctl'), ['stop', '-m', 'immediate', '-W', '-D', this.dataDir], { cwd: this.dataDir, runAs: this.cfg.runAs });
    await waitExit(sc, 30_000);
    this.unreap?.();
  }

  kill(signal: NodeJS.Signals): void {
    if (FATAL.has(signal)) this.fatalSent = true;
    signalPid(this.current?.child.pid, signal);
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.cfg.ownsDir) {
      rmSync(this.dataDir, { recursive: true, force: true });
      this.unreapDir?.();
    }
  }
}

/** Create `dir` (or accept it empty) owned by whoever will run Postgres. False when it already holds a data folder. */
function prepareDataDir(dir: string, runAs: RunAs | undefined): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, 'PG_VERSION'))) return false;
  if (readdirSync(dir).length > 0) throw new Error(`${dir} is neither empty nor a Postgres data folder`);
  if (runAs) chownSync(dir, runAs.uid, runAs.gid);
  chmodSync(dir, 0o700); // initdb and postgres refuse group/world-accessible data folders
  return true;
}

async function launch(dataDir: string, o: StartPostgresOptions, ownsDir: boolean, runAs: RunAs | undefined, extra: Record<string, string | number> = {}): Promise<LocalPostgres> {
  const server = new PostgresServer(dataDir, o.port ?? (await freePort()), {
    fsync: o.fsync ?? true,
    log: o.log,
    settings: { ...extra, ...o.settings },
    runAs,
    autoPort: o.port === undefined,
    ownsDir,
  });
  try {
    await server.start();
  } catch (err) {
    await server.destroy().catch(() => {});
    throw err;
  }
  return server;
}

/**
 * Start a private Postgres: initdb (trust auth, UTF8, C locale) when the data
 * folder is empty, then `postgres` as a child process on 127.0.0.1:port,
 * resolved once it accepts connections. Replication-capable
 * (wal_level=replica, max_wal_senders) so `startReplica` can follow it.
 */
export async function startPostgres(o: StartPostgresOptions = {}): Promise<LocalPostgres> {
  const runAs = postgresOsUser();
  const ownsDir = o.dataDir === undefined;
  const dataDir = resolve(o.dataDir ?? mkdtempSync(join(tmpdir(), 'sluice-pg-')));
  if (prepareDataDir(dataDir, runAs)) {
    const args = ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale'];
    if (o.fsync === false) args.push('--no-sync');
    await runTool(pgTool('initdb'), args, { cwd: dataDir, runAs, log: o.log });
  }
  return launch(dataDir, o, ownsDir, runAs);
}

/**
 * Start a streaming replica of `primary`: `pg_basebackup -R -X stream` into an
 * empty data folder (writes standby.signal and primary_conninfo), then start
 * it with hot_standby on. Resolves once it accepts read-only connections.
 */
export async function startReplica(primary: LocalPostgres, o: StartReplicaOptions = {}): Promise<LocalPostgres> {
  const runAs = postgresOsUser();
  const ownsDir = o.dataDir === undefined;
  const dataDir = resolve(o.dataDir ?? mkdtempSync(join(tmpdir(), 'sluice-pgr-')));
  if (prepareDataDir(dataDir, runAs)) {
    const args = ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast'];
    if (o.fsync === false) args.push('--no-sync');
    await runTool(pgTool('pg_basebackup'), args, { cwd: dataDir, runAs, log: o.log });
  }
  return launch(dataDir, o, ownsDir, runAs, { hot_standby: 'on' });
}

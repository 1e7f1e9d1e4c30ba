/**
 * HAProxy from the Debian package, run with the shipped deploy/haproxy.cfg
 * adapted to a test: the same defaults, checks, timeouts, error pages and
 * frontend rules, with loopback ports, a private admin socket and state
 * file, and the test's gateways as servers. Each adaptation must match
 * exactly once, so a change to the shipped file fails here loudly instead of
 * silently testing something else.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeLines } from '@sluice/local-servers/child.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';

/** The shipped config. */
export const HAPROXY_CFG = join(REPO_ROOT, 'deploy', 'haproxy.cfg');
/** Stats credentials the tests run with (the config refuses to start without them). */
export const STATS_ENV = { HAPROXY_STATS_USER: 'ops', HAPROXY_STATS_PASSWORD: 'test-only-password' };

/** The haproxy binary, or a clear failure: CI installs the Debian package (.ci/run). */
export function haproxyBinary(): string {
  try {
    // Debian puts it in /usr/sbin, which a non-login PATH may lack.
    return execFileSync('sh', ['-c', 'PATH="$PATH:/usr/sbin:/sbin" command -v haproxy'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('haproxy is not installed: `apt-get install haproxy` (the Debian package; .ci/run installs it)');
  }
}

/** One backend server: its name in the config and its address. */
export interface Backend {
  name: string;
  host: string;
  port: number;
}

/** Where a test's HAProxy listens and keeps its runtime files. */
export interface HaproxyLayout {
  port: number;
  statsPort: number;
  dir: string;
  servers: readonly Backend[];
}

/** Replace the single match of `re` in `text`, or fail naming what changed. */
function replaceOnce(text: string, re: RegExp, by: string): string {
  const n = text.match(new RegExp(re.source, `${re.flags.replace('g', '')}g`))?.length ?? 0;
  if (n !== 1) throw new Error(`deploy/haproxy.cfg: expected exactly one match of ${re} (found ${n}); update test/deploy/haproxy.ts`);
  return text.replace(re, by);
}

/** deploy/haproxy.cfg with the test's ports, runtime files and servers. */
export function testConfig(l: HaproxyLayout): string {
  let cfg = readFileSync(HAPROXY_CFG, 'utf8');
  // 20,000 connections need ~40,000 file descriptors, more than a test process may have.
  cfg = replaceOnce(cfg, /^ {2}maxconn 20000$/m, '  maxconn 1000');
  cfg = replaceOnce(cfg, /stats socket \/var\/lib\/haproxy\/admin\.sock /, `stats socket ${l.dir}/admin.sock `);
  cfg = replaceOnce(cfg, /server-state-file \/var\/lib\/haproxy\/server-state\n/, `server-state-file ${l.dir}/server-state\n`);
  // Docker's DNS does not exist here; the servers are addresses.
  cfg = replaceOnce(cfg, /^resolvers docker\n(?: {2}[^\n]*\n)+/m, '');
  cfg = replaceOnce(cfg, / resolvers docker init-addr [^\n]+/, '');
  cfg = replaceOnce(cfg, /^ {2}bind :3000$/m, `  bind 127.0.0.1:${l.port}`);
  cfg = replaceOnce(cfg, /^ {2}bind :8404$/m, `  bind 127.0.0.1:${l.statsPort}`);
  const servers = l.servers.map((s) => `  server ${s.name} ${s.host}:${s.port}\n`).join('');
  return replaceOnce(cfg, /^(?: {2}server gateway\d gateway\d:3000\n)+/m, servers);
}

/** A running HAProxy. */
export interface Haproxy {
  readonly url: string;
  readonly statsUrl: string;
  readonly layout: HaproxyLayout;
  readonly child: ChildProcess;
  /** Everything it printed (request logs, alerts). */
  output(): string;
  /** A runtime API command on the admin socket; resolves with the answer. */
  admin(command: string): Promise<string>;
  /** `show stat` status per server of the backend (UP, DOWN, MAINT, "UP 1/2"…). */
  status(): Promise<Record<string, string>>;
  /** Resolves when the process exited. */
  readonly exited: Promise<void>;
  /** Start a new process on the same config that takes over from this one (`-sf`: it finishes its connections and exits), as a reload does. */
  reload(): Promise<Haproxy>;
  /** SIGTERM (SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/** Send one command to a runtime API socket. */
function adminCommand(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.end(`${command}\n`);
  });
}

function launch(l: HaproxyLayout, cfgPath: string, takeOverFrom?: number): Haproxy {
  const args = ['-db', '-f', cfgPath, ...(takeOverFrom !== undefined ? ['-sf', String(takeOverFrom)] : [])];
  const child = spawn(haproxyBinary(), args, { env: { ...process.env, ...STATS_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  pipeLines(child.stdout, (s) => lines.push(s));
  pipeLines(child.stderr, (s) => lines.push(s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let stopping: Promise<void> | undefined;
  const h: Haproxy = {
    url: `http://127.0.0.1:${l.port}`,
    statsUrl: `http://127.0.0.1:${l.statsPort}/`,
    layout: l,
    child,
    exited,
    output: () => lines.join('\n'),
    admin: (command) => adminCommand(join(l.dir, 'admin.sock'), command),
    async status() {
      const csv = await h.admin('show stat');
      const out: Record<string, string> = {};
      for (const row of csv.split('\n')) {
        const f = row.split(',');
        if (f[0] === 'gateways' && f[1] !== 'BACKEND') out[f[1]!] = f[17]!;
      }
      return out;
    },
    async reload() {
      const next = launch(l, cfgPath, child.pid);
      await whenAnswering(next);
      return next;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  return h;
}

/** Resolves once the admin socket answers (the config is loaded and listening). */
async function whenAnswering(h: Haproxy, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (h.child.exitCode !== null) throw new Error(`haproxy exited with ${h.child.exitCode}:\n${h.output()}`);
    try {
      if ((await h.admin('show info')).includes('Pid:')) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`haproxy did not answer within ${timeoutMs} ms:\n${h.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start HAProxy in front of `servers` on free ports with a private runtime dir (removed by `cleanup`). */
export async function startHaproxy(servers: readonly Backend[]): Promise<{ haproxy: Haproxy; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-haproxy-'));
  const layout: HaproxyLayout = { port: await freePort(), statsPort: await freePort(), dir, servers };
  const cfgPath = join(dir, 'haproxy.cfg');
  writeFileSync(cfgPath, testConfig(layout));
  const haproxy = launch(layout, cfgPath);
  await whenAnswering(haproxy);
  return { haproxy, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The check timing of deploy/haproxy.cfg's backend, in ms. */
export function checkTiming(cfg = readFileSync(HAPROXY_CFG, 'utf8')): { inter: number; fastinter: number; fall: number; timeoutCheck: number } {
  const ms = (v: string) => (v.endsWith('ms') ? Number(v.slice(0, -2)) : v.endsWith('s') ? Number(v.slice(0, -1)) * 1000 : Number(v));
  const server = /^ {2}default-server check ([^\n]+)$/m.exec(cfg)?.[1] ?? '';
  const opt = (name: string) => {
    const m = new RegExp(`\\b${name} (\\S+)`).exec(server);
    if (!m) throw new Error(`deploy/haproxy.cfg: default-server has no ${name}`);
    return m[1]!;
  };
  const timeoutCheck = /^ {2}timeout check (\S+)$/m.exec(cfg)?.[1];
  if (!timeoutCheck) throw new Error('deploy/haproxy.cfg: no `timeout check`');
  return { inter: ms(opt('inter')), fastinter: ms(opt('fastinter')), fall: Number(opt('fall')), timeoutCheck: ms(timeoutCheck) };
}

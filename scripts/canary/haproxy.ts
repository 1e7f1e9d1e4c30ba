import { connect } from 'node:net';

/**
 * HAProxy's runtime API over its stats socket (`stats socket … level admin`
 * in deploy/haproxy.cfg): one connection per command, in the non-interactive
 * mode (HAProxy answers and closes).
 */
export class HaproxyRuntime {
  constructor(
    private readonly socket: string,
    private readonly timeoutMs = 2000,
  ) {}

  /** Send one command; resolves with HAProxy's answer. */
  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.socket);
      let out = '';
      sock.setEncoding('utf8');
      sock.setTimeout(this.timeoutMs, () => sock.destroy(new Error(`haproxy runtime API: no answer to "${cmd}" within ${this.timeoutMs} ms`)));
      sock.on('data', (d: string) => (out += d));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
      sock.end(`${cmd}\n`);
    });
  }

  /** `show stat` rows of `backend`'s servers, by server name, each field by its CSV header name. */
  async stats(backend: string): Promise<Map<string, Record<string, string>>> {
    const csv = await this.command('show stat');
    const lines = csv.split('\n').filter((l) => l.length > 0);
    const header = lines[0]!.replace(/^# /, '').split(',');
    const out = new Map<string, Record<string, string>>();
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      if (f[0] !== backend || f[1] === 'BACKEND' || f[1] === 'FRONTEND') continue;
      out.set(f[1]!, Object.fromEntries(header.map((h, i) => [h, f[i] ?? ''])));
    }
    if (out.size === 0) throw new Error(`haproxy: no servers in backend ${backend}`);
    return out;
  }

  /** Each server's address (`host:port`) from `show servers state`. */
  async addresses(backend: string): Promise<Map<string, string>> {
    const text = await this.command(`show servers state ${backend}`);
    const lines = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('1'));
    const header = lines.find((l) => l.startsWith('#'))?.replace(/^# /, '').split(' ') ?? [];
    const name = header.indexOf('srv_name');
    const addr = header.indexOf('srv_addr');
    const port = header.indexOf('srv_port');
    const out = new Map<string, string>();
    for (const l of lines) {
      if (l.startsWith('#')) continue;
      const f = l.split(' ');
      out.set(f[name]!, `${f[addr]}:${f[port]}`);
    }
    return out;
  }

  /**
   * Set weights of several servers in one round trip (the CLI runs
   * `;`-separated commands in order); throws on any answer (success is silent).
   */
  async setWeights(backend: string, weights: ReadonlyMap<string, number>): Promise<void> {
    const cmds = [...weights].map(([server, w]) => `set weight ${backend}/${server} ${w}`);
    const answer = (await this.command(cmds.join('; '))).trim();
    if (answer !== '') throw new Error(`haproxy: ${cmds.join('; ')}: ${answer}`);
  }
}

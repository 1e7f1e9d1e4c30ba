/**
 * One HTTP exchange, nothing more: no retries, no parsing. The default is
 * `node:http(s)` with a keep-alive agent: measured on the development
 * machine against one plain Node server with 50 requests in flight, Node 20's
 * global fetch (undici) spent 555–690 µs of client CPU per request and
 * `http.request` 122–131 µs — an app server's CPU is what a client must not
 * eat. A `fetch` given in the options is used instead (tests, proxies, other
 * runtimes).
 */
import http from 'node:http';
import https from 'node:https';
import { SluiceNetworkError } from './errors.ts';

/** A request as the client sends it. */
export interface WireRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/v1/tables/events`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Give up on this attempt after this many ms (→ SluiceNetworkError, timedOut). */
  timeoutMs: number;
}

/** An answer, whatever its status. */
export interface WireResponse {
  status: number;
  statusText: string;
  /** A response header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
  body: string;
}

/** Sends requests to one gateway base URL. */
export interface Transport {
  /** Resolves with any answer; rejects with SluiceNetworkError when there is none. */
  send(req: WireRequest): Promise<WireResponse>;
  /** Close idle connections. */
  close(): void;
}

/** The fetch function shape the client accepts. */
export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal }) => Promise<{
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

// Errors raised before any byte could reach the server: the request was certainly not sent.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL']);

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
}

/** `node:http(s)` with a keep-alive agent. */
export class NodeHttpTransport implements Transport {
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;

  constructor(
    private readonly base: URL,
    o: { maxSockets?: number } = {},
  ) {
    const secure = base.protocol === 'https:';
    this.mod = secure ? https : http;
    this.agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: o.maxSockets ?? 256 });
  }

  send(r: WireRequest): Promise<WireResponse> {
    return new Promise((resolve, reject) => {
      let sent = false;
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const headers: Record<string, string | number> = { ...r.headers };
      if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
      const req = this.mod.request(
        { agent: this.agent, protocol: this.base.protocol, hostname: this.base.hostname, port: this.base.port, path: this.base.pathname.replace(/\/$/, '') + r.path, method: r.method, headers },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', header: (n) => joined(res.headers[n.toLowerCase()]), body });
          });
          res.on('error', fail);
        },
      );
      function fail(err: Error): void {
        clearTimeout(timer);
        const code = codeOf(err);
        const notSent = !sent || (code !== undefined && NOT_SENT.has(code));
        reject(new SluiceNetworkError(timedOut ? `no answer within ${r.timeoutMs} ms` : `${code ?? 'network error'}: ${err.message}`, !notSent, timedOut, err));
      }
      // Sent = a connected socket took the request. A request still waiting for a socket
      // (agent queue, connect) when it fails or times out never reached the server.
      req.on('socket', (s) => {
        if (!s.connecting) sent = true;
        else s.once('connect', () => (sent = true));
      });
      req.on('error', fail);
      timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error('timeout'));
      }, r.timeoutMs);
      req.end(r.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** A caller's fetch. Whether a failed request was sent is known only for refused connections. */
export class FetchTransport implements Transport {
  constructor(
    private readonly base: URL,
    private readonly fetchFn: FetchLike,
  ) {}

  async send(r: WireRequest): Promise<WireResponse> {
    const signal = AbortSignal.timeout(r.timeoutMs);
    try {
      const res = await this.fetchFn(this.base.href.replace(/\/$/, '') + r.path, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}), signal });
      const body = await res.text();
      return { status: res.status, statusText: res.statusText, header: (n) => res.headers.get(n) ?? undefined, body };
    } catch (err) {
      const code = codeOf(err);
      const timedOut = signal.aborted;
      const sent = !(code !== undefined && NOT_SENT.has(code));
      throw new SluiceNetworkError(timedOut ? `no answer within ${r.timeoutMs} ms` : `${code ?? 'network error'}: ${(err as Error).message}`, sent, timedOut, err);
    }
  }

  close(): void {}
}

/**
 * What every operation shares: the transport to one gateway, the API key,
 * the per-attempt timeout, the retry bounds and the retry hook. Option
 * defaults are resolved here, once.
 */
import { DEFAULT_RETRY, type RetryPolicy } from './retry.ts';
import { FetchTransport, NodeHttpTransport, type FetchLike, type Transport, type WireRequest, type WireResponse } from './transport.ts';

/** Client-side batching: see `Batcher`. */
export interface BatchingOptions {
  /** Send when this many rows (ops) are waiting. Default 500 (the gateway allows 1,000 per request by default). */
  maxRows?: number;
  /** …or this long after the first of them arrived. Default 5 ms. */
  lingerMs?: number;
  /** Keep a request's JSON body under this many bytes. Default 512 KiB (the gateway's limit is 1 MiB by default). */
  maxBytes?: number;
  /** Coalesced requests in flight at once. Default 8. */
  maxInFlight?: number;
}

/** What `onRetry` is told before each wait. */
export interface RetryEvent {
  method: string;
  path: string;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** HTTP status of the failed attempt, or 0 when there was no answer. */
  status: number;
  writeId: string | undefined;
}

/** Options of `new SluiceClient(…)`. */
export interface ClientOptions {
  /** Gateway base URL, e.g. `http://localhost:3000`. */
  url: string;
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string;
  /** Use this fetch instead of `node:http` (tests, proxies, other runtimes). */
  fetch?: FetchLike;
  /** One attempt gives up after this many ms. Default 10,000 (above the gateway's default commit wait of 5 s). */
  timeoutMs?: number;
  /** Retry bounds; each member defaults to `DEFAULT_RETRY`'s (deadline 40 s, backoff 50 ms → 2 s). */
  retry?: Partial<RetryPolicy>;
  /** Coalesce small writes into few requests (off by default). */
  batching?: BatchingOptions | boolean;
  /** Keep-alive sockets to the gateway (node:http transport). Default 256. */
  maxSockets?: number;
  /** Called before every retry wait (logging, metrics). */
  onRetry?: (e: RetryEvent) => void;
}

/** Resolved defaults of batching. */
export type ResolvedBatching = Required<BatchingOptions>;

/** Batching defaults, over what the caller gave. */
export function resolveBatching(o: BatchingOptions | boolean | undefined): ResolvedBatching | undefined {
  if (o === undefined || o === false) return undefined;
  const given = o === true ? {} : o;
  return { maxRows: 500, lingerMs: 5, maxBytes: 512 * 1024, maxInFlight: 8, ...given };
}

/** The shared machinery of one client. */
export class Core {
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly onRetry: ((e: RetryEvent) => void) | undefined;
  private readonly transport: Transport;
  private readonly auth: Record<string, string>;

  constructor(o: ClientOptions) {
    const base = new URL(o.url);
    this.transport = o.fetch ? new FetchTransport(base, o.fetch) : new NodeHttpTransport(base, o.maxSockets === undefined ? {} : { maxSockets: o.maxSockets });
    this.retry = { ...DEFAULT_RETRY, ...o.retry };
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.onRetry = o.onRetry;
    this.auth = o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {};
  }

  /** One attempt, with the API key. */
  send(r: WireRequest): Promise<WireResponse> {
    return this.transport.send({ ...r, headers: { accept: 'application/json', ...this.auth, ...r.headers } });
  }

  close(): void {
    this.transport.close();
  }
}

/**
 * JSON of a body. bigint values (int8 beyond 2^53) go as strings of digits,
 * which the gateway accepts; the replacer costs time, so only when needed.
 */
export function toJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  }
}

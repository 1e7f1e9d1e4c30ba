/**
 * Load for fault tests: N concurrent clients, each sending one request at a
 * time, alternating unique-id inserts (`f_items`) and sequential upserts of
 * its own keys (`f_keys`: a key's next value is sent only after the previous
 * request on it was answered). Every op goes into a `History`.
 */
import { History, outcomeOf, type Op } from './history.ts';

/** Options of a load run. */
export interface LoadOptions {
  /** Gateway base URLs; client i talks to urls[i % urls.length]. */
  urls: readonly string[];
  clients: number;
  /** Keys each client upserts in turn. */
  keysPerClient?: number;
  /** Fraction of a client's ops that are upserts (0–1). Default 0.5. */
  upsertShare?: number;
  /** Ack mode per client index. Default: even clients `queued`, odd `committed`. */
  ackOf?: (client: number) => Op['ack'];
  /** Stop a client after this many ops. Default: until `stop()`. */
  opsPerClient?: number;
  /** Pause after each op (ms), to keep the write count of a test modest. */
  paceMs?: number;
  /** Client-side timeout per request (ms): no answer by then → unknown. */
  timeoutMs?: number;
  /** Extra bytes of `note` per insert (to fill Redis faster). */
  noteBytes?: number;
  /** Upserted values start after this (a second run over the keys of a first one continues their sequence). */
  valuesFrom?: number;
  /** Prefix of insert ids (a second run in one test must not reuse the first one's). */
  insertIdPrefix?: string;
  /** Each op goes to a gateway picked at random instead of client i always to urls[i % n]: a key's writes go through every gateway. */
  anyGateway?: boolean;
  /** Sharded tables: the user (shard-key value) of client i; its rows carry it as `user_id`. */
  userOf?: (client: number) => number;
}

/** A running load: its history, and how to stop it. */
export class LoadDriver {
  readonly history = new History();
  private stopped = false;
  private readonly running: Promise<void>;
  private readonly o: Required<Omit<LoadOptions, 'opsPerClient' | 'userOf'>> & Pick<LoadOptions, 'userOf'> & { opsPerClient: number };
  private urls: readonly string[];

  constructor(o: LoadOptions) {
    this.o = {
      keysPerClient: 4,
      upsertShare: 0.5,
      ackOf: (c) => (c % 2 === 0 ? 'queued' : 'committed'),
      opsPerClient: Number.POSITIVE_INFINITY,
      paceMs: 0,
      timeoutMs: 15_000,
      noteBytes: 0,
      valuesFrom: 0,
      anyGateway: false,
      insertIdPrefix: '',
      ...o,
    };
    this.urls = o.urls;
    this.running = Promise.all(Array.from({ length: this.o.clients }, (_, c) => this.client(c))).then(() => {});
  }

  /** Ask every client to finish its current op and stop; resolves when all did. */
  async stop(): Promise<History> {
    this.stopped = true;
    await this.running;
    return this.history;
  }

  /** Resolves when every client reached `opsPerClient` (or `stop()` was called). */
  async done(): Promise<History> {
    await this.running;
    return this.history;
  }

  /** Send the next ops to these gateways (client i to urls[i % n]). */
  retarget(urls: readonly string[]): void {
    this.urls = urls;
  }

  /** Acknowledged ops so far. */
  get acknowledged(): number {
    return this.history.count('ok');
  }

  private async client(c: number): Promise<void> {
    const ack = this.o.ackOf(c);
    const nextV = new Array<number>(this.o.keysPerClient).fill(this.o.valuesFrom);
    const note = 'x'.repeat(this.o.noteBytes);
    const user = this.o.userOf === undefined ? {} : { user_id: this.o.userOf(c) };
    // A per-client accumulator picks upserts at the requested share, deterministically.
    let share = 0;
    let upserts = 0;
    for (let s = 0; s < this.o.opsPerClient && !this.stopped; s++) {
      const url = this.urls[(this.o.anyGateway ? Math.floor(Math.random() * this.urls.length) : c) % this.urls.length]!;
      share += this.o.upsertShare;
      const upsert = share >= 1;
      if (upsert) share -= 1;
      if (upsert) {
        const j = upserts++ % this.o.keysPerClient;
        const v = ++nextV[j]!;
        const key = `k${c}.${j}`;
        await this.send(url, { id: `u${c}.${j}.${v}`, kind: 'upsert', key, v, ack }, '/v1/tables/f_keys', { k: key, v, op: `u${c}.${j}.${v}`, ...user });
      } else {
        const id = `${this.o.insertIdPrefix}i${c}.${s}`;
        await this.send(url, { id, kind: 'insert', ack }, '/v1/tables/f_items', { op: id, client: c, note, ...user });
      }
      if (this.o.paceMs > 0) await new Promise((r) => setTimeout(r, this.o.paceMs));
    }
  }

  private async send(url: string, op: Pick<Op, 'id' | 'kind' | 'key' | 'v' | 'ack'>, path: string, body: unknown): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'sluice-ack': op.ack };
    if (op.kind === 'upsert') headers.prefer = 'resolution=merge-duplicates';
    const start = performance.now();
    let status = 0;
    let retryAfter: string | null = null;
    let unconfirmed = false;
    try {
      const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(this.o.timeoutMs) });
      const text = await res.text();
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      // A 503 whose job Redis may still hold says so (gateway/src/enqueue: UnconfirmedWriteError).
      unconfirmed = status === 503 && text.includes('"writeStatus":"unknown"');
    } catch {
      status = 0; // no answer: unknown
    }
    const outcome = status === 0 || unconfirmed ? 'unknown' : outcomeOf(status, op.ack);
    this.history.add({ ...op, status, outcome, start, end: performance.now(), retryAfter });
  }
}

/** Start a load run (see {@link LoadDriver}). */
export const startLoad = (o: LoadOptions) => new LoadDriver(o);

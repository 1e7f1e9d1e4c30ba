/**
 * Load for the client fault tests: N workers, each with a @sluice/client
 * (plain or batching), alternating unique-id inserts (`f_items`) and
 * sequential upserts of its own keys (`f_keys`: a key's next value only
 * after the previous write settled). The log is the CLIENT's own verdict:
 *   ok       the call resolved (done: queued or committed),
 *   failed   it threw with outcome 'failed' (certainly not applied),
 *   unknown  it threw with outcome 'unknown' (may have been applied).
 * The set checker (history.ts) then holds the client to that: everything ok
 * is in Postgres exactly once, nothing failed is.
 */
import { SluiceClient, SluiceError, SluiceProblemError, type ClientOptions, type WriteResult } from '@sluice/client';
import { History, type Op } from './history.ts';

/** Options of a client load run. */
export interface ClientLoadOptions {
  url: string;
  workers: number;
  /** Per worker; default: until stop(). */
  opsPerWorker?: number;
  keysPerWorker?: number;
  /** Workers with index % 4 === 3 write through a batching client (default true). */
  batching?: boolean;
  /** Pause after each op (ms). */
  paceMs?: number;
  /** Client options besides url (timeouts, retry bounds). */
  client?: Omit<ClientOptions, 'url' | 'batching' | 'onRetry'>;
}

/** Tables the load writes, as the client sees them. */
interface FaultTables {
  f_items: { row: { op: string }; insert: { op: string; client: number; note?: string }; update: { note?: string } };
  f_keys: { row: { k: string; v: number }; insert: { k: string; v: number; op: string }; update: { v?: number } };
}

/** A running client load. */
export class ClientLoad {
  readonly history = new History();
  /** Retries the clients made (each a failed attempt the caller never saw). */
  retries = 0;
  /** Error names of ops that did not end ok, counted. */
  readonly errors = new Map<string, number>();
  private stopped = false;
  private readonly plain: SluiceClient<FaultTables>;
  private readonly batched: SluiceClient<FaultTables>;
  private readonly running: Promise<void>;

  constructor(private readonly o: ClientLoadOptions) {
    const onRetry = () => void this.retries++;
    this.plain = new SluiceClient<FaultTables>({ url: o.url, ...o.client, onRetry });
    this.batched = new SluiceClient<FaultTables>({ url: o.url, ...o.client, onRetry, batching: { lingerMs: 5, maxRows: 50 } });
    this.running = Promise.all(Array.from({ length: o.workers }, (_, w) => this.worker(w))).then(() => {});
  }

  /** Ops that ended ok so far. */
  get acknowledged(): number {
    return this.history.count('ok');
  }

  /** Let every worker finish its current op; resolves with the log. */
  async stop(): Promise<History> {
    this.stopped = true;
    return this.done();
  }

  /** Resolves with the log once every worker is through. */
  async done(): Promise<History> {
    await this.running;
    await Promise.all([this.plain.close(), this.batched.close()]);
    return this.history;
  }

  private async worker(w: number): Promise<void> {
    const client = this.o.batching !== false && w % 4 === 3 ? this.batched : this.plain;
    const ack: Op['ack'] = w % 2 === 0 ? 'queued' : 'committed';
    const keys = this.o.keysPerWorker ?? 3;
    const next = new Array<number>(keys).fill(0);
    const ops = this.o.opsPerWorker ?? Number.POSITIVE_INFINITY;
    for (let s = 0; s < ops && !this.stopped; s++) {
      if (s % 2 === 1) {
        const j = (s >> 1) % keys;
        const v = ++next[j]!;
        const key = `k${w}.${j}`;
        const id = `u${w}.${j}.${v}`;
        await this.record({ id, kind: 'upsert', key, v, ack }, () => client.upsert('f_keys', { k: key, v, op: id }, { ack }));
      } else {
        const id = `i${w}.${s}`;
        await this.record({ id, kind: 'insert', ack }, () => client.insert('f_items', { op: id, client: w }, { ack }));
      }
      if (this.o.paceMs) await new Promise((r) => setTimeout(r, this.o.paceMs));
    }
  }

  private async record(op: Pick<Op, 'id' | 'kind' | 'key' | 'v' | 'ack'>, call: () => Promise<WriteResult>): Promise<void> {
    const start = performance.now();
    try {
      await call();
      this.history.add({ ...op, status: 200, outcome: 'ok', start, end: performance.now() });
    } catch (err) {
      if (!(err instanceof SluiceError)) throw err; // a bug in the client, not an outcome
      const status = err instanceof SluiceProblemError ? err.status : 0;
      const cause = err.cause instanceof SluiceError ? `<-${err.cause.name}${err.cause instanceof SluiceProblemError ? `:${err.cause.status}` : ''}` : '';
      const name = `${err.name}/${err.outcome}${cause}`;
      this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
      this.history.add({ ...op, status, outcome: err.outcome, start, end: performance.now() });
    }
  }
}

/** Start a client load run. */
export const startClientLoad = (o: ClientLoadOptions) => new ClientLoad(o);

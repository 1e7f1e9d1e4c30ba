import { setTimeout as sleep } from 'node:timers/promises';
import type { Flag } from '@sluice/shared/flags/evaluate.ts';
import { SseParser, type SseEvent } from './sse.ts';

/** How a `FlagStream` reaches the gateways and how patient it is. */
export interface FlagStreamOptions {
  /** Base URL of the gateways (the load balancer), e.g. `http://sluice:3000`. */
  url: string;
  /** Any valid Sluice API key (evaluation needs no scope); omitted when the gateway runs without keys. */
  apiKey?: string;
  /** No byte for this long (the gateway sends a comment every 15 s) → the connection is taken for dead and replaced. */
  idleTimeoutMs: number;
  /** How often the set's version is asked of the gateways (`POST /v1/flags/evaluate`); 0 = never. */
  versionCheckMs: number;
  /** How long the stream may stay behind a version the check saw before it is replaced. */
  versionGraceMs: number;
  /** First and largest wait between reconnections (exponential, jittered). */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  fetch: typeof fetch;
}

/** What a `FlagStream` tells its owner. */
export interface FlagStreamEvents {
  /** Flags whose state changed (or that were deleted), once applied. */
  changed(names: string[], version: number): void;
  /** `ready`: a full set arrived; `stale`: the stream was lost (the last set is kept); `error`: the gateway refused the key. */
  status(s: 'ready' | 'stale' | 'error', err?: unknown): void;
}

/** The gateway refused the API key (401/403): a configuration error, reported as such. */
export class StreamAuthError extends Error {
  override readonly name = 'StreamAuthError';
}

/** The stream sent nothing (not even a keep-alive) for `idleTimeoutMs`. */
class StreamIdleError extends Error {
  override readonly name = 'StreamIdleError';
}

/**
 * An app server's copy of the flag set, kept by following
 * `GET /v1/flags/stream`. States: *connecting* → *following* (after the
 * full set, `event: flags`) → on any loss (end, error, idle, an unreadable
 * event, a version check that found us behind) *waiting* a jittered backoff
 * → *connecting* again; `stop()` ends it from any state.
 *
 * Every connection starts with the whole set, which replaces the copy held
 * (flags deleted meanwhile disappear): whatever was lost while disconnected,
 * or never arrived on a connection that looked alive, heals on the next one.
 * Individual events only move a flag forward (a lower version is ignored).
 * While disconnected the last set keeps answering.
 */
export class FlagStream {
  private flags = new Map<string, Flag>();
  private setVersion = 0;
  private conn: AbortController | undefined;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private firstSet: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void };
  private hadSet = false;
  /** Connections opened so far. */
  connections = 0;
  /** Full sets received so far (one per successful connection). */
  fullSets = 0;

  constructor(
    private readonly o: FlagStreamOptions,
    private readonly on: FlagStreamEvents,
  ) {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {}); // observed by `ready()`; never an unhandled rejection
    this.firstSet = { promise, resolve, reject };
  }

  /** The flag named `name`, or undefined. */
  get(name: string): Flag | undefined {
    return this.flags.get(name);
  }

  /** The version of the set held (0 before the first set). */
  get version(): number {
    return this.setVersion;
  }

  /** Start following (idempotent). */
  start(): void {
    if (this.loop !== undefined) return;
    this.loop = this.run();
    if (this.o.versionCheckMs > 0) {
      this.checkTimer = setInterval(() => void this.checkVersion().catch(() => {}), this.o.versionCheckMs);
      this.checkTimer.unref();
    }
  }

  /** Resolves once the first full set is held; rejects after `timeoutMs`, on a refused key, or on stop. */
  ready(timeoutMs: number): Promise<void> {
    const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
      throw new Error(`no flag set from ${this.o.url} within ${timeoutMs} ms (still trying)`);
    });
    return Promise.race([this.firstSet.promise, timeout]);
  }

  /** Drop the current connection; the loop reconnects and receives the whole set. */
  reconnect(): void {
    this.conn?.abort();
  }

  /** Stop following; idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.checkTimer);
    this.stopper.abort();
    this.conn?.abort();
    this.firstSet.reject(new Error('the flag stream was stopped'));
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopper.signal.aborted) {
      const ctrl = new AbortController();
      this.conn = ctrl;
      const setsBefore = this.fullSets;
      try {
        await this.follow(ctrl);
      } catch (err) {
        if (this.stopper.signal.aborted) break;
        if (err instanceof StreamAuthError) {
          this.firstSet.reject(err);
          this.on.status('error', err);
        } else this.on.status('stale', err);
      }
      if (this.stopper.signal.aborted) break;
      // A connection that delivered a set was healthy: start the backoff afresh.
      failures = this.fullSets > setsBefore ? 0 : failures + 1;
      const wait = Math.min(this.o.reconnectMaxMs, this.o.reconnectMinMs * 2 ** Math.min(failures, 16)) * (0.5 + Math.random() / 2);
      await sleep(wait, undefined, { signal: this.stopper.signal }).catch(() => {});
    }
  }

  /** One connection, until it ends or fails. A stream that ends without error (a draining gateway) is a loss too. */
  private async follow(ctrl: AbortController): Promise<void> {
    this.connections += 1;
    // The idle timer also covers a gateway that accepts the connection and never answers.
    const idle = setTimeout(() => ctrl.abort(new StreamIdleError(`no data for ${this.o.idleTimeoutMs} ms`)), this.o.idleTimeoutMs);
    try {
      const res = await this.o.fetch(`${this.o.url}/v1/flags/stream`, { headers: this.headers({ accept: 'text/event-stream' }), signal: ctrl.signal });
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new StreamAuthError(`the gateway refused the API key for /v1/flags/stream (${res.status})`);
      }
      if (!res.ok || res.body === null) {
        await res.body?.cancel();
        throw new Error(`/v1/flags/stream answered ${res.status}`);
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        idle.refresh();
        for (const ev of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) this.apply(ev);
      }
      throw new Error('the stream ended');
    } finally {
      clearTimeout(idle);
    }
  }

  /** Apply one event. An event that cannot be read throws: the connection is replaced and the next full set heals. */
  private apply(ev: SseEvent): void {
    if (ev.event === 'flags') {
      const set = JSON.parse(ev.data) as { version: number; flags: Flag[] };
      if (!Number.isSafeInteger(set.version) || !Array.isArray(set.flags)) throw new Error('unreadable flag set');
      const next = new Map(set.flags.map((f) => [f.name, f]));
      const changed = [...next.values()].filter((f) => this.flags.get(f.name)?.version !== f.version).map((f) => f.name);
      for (const name of this.flags.keys()) if (!next.has(name)) changed.push(name);
      this.flags = next;
      this.setVersion = set.version;
      this.fullSets += 1;
      this.firstSet.resolve();
      this.on.status('ready');
      if (changed.length > 0 && this.hadSet) this.on.changed(changed, set.version);
      this.hadSet = true;
    } else if (ev.event === 'flag') {
      const f = JSON.parse(ev.data) as Flag;
      if (typeof f.name !== 'string' || !Number.isSafeInteger(f.version)) throw new Error('unreadable flag event');
      this.setVersion = Math.max(this.setVersion, f.version);
      if ((this.flags.get(f.name)?.version ?? 0) >= f.version) return;
      this.flags.set(f.name, f);
      this.on.changed([f.name], this.setVersion);
    } else if (ev.event === 'delete') {
      const d = JSON.parse(ev.data) as { name: string; version: number };
      if (typeof d.name !== 'string' || !Number.isSafeInteger(d.version)) throw new Error('unreadable delete event');
      this.setVersion = Math.max(this.setVersion, d.version);
      const held = this.flags.get(d.name);
      if (held === undefined || held.version >= d.version) return;
      this.flags.delete(d.name);
      this.on.changed([d.name], this.setVersion);
    }
  }

  /**
   * The backstop for a message lost on a connection that still looks alive:
   * ask any gateway for the set's version (a bulk evaluation of no flags) and,
   * when we are still behind it `versionGraceMs` later, replace the connection.
   */
  private async checkVersion(): Promise<void> {
    if (this.fullSets === 0) return;
    const res = await this.o.fetch(`${this.o.url}/v1/flags/evaluate`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: '{"userId":"sluice-openfeature-version-check","flags":[]}',
      signal: AbortSignal.any([AbortSignal.timeout(5000), this.stopper.signal]),
    });
    if (!res.ok) return void (await res.body?.cancel());
    const seen = ((await res.json()) as { version?: unknown }).version;
    if (typeof seen !== 'number' || seen <= this.setVersion) return;
    await sleep(this.o.versionGraceMs, undefined, { signal: this.stopper.signal });
    if (this.setVersion < seen) this.reconnect();
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.o.apiKey === undefined ? extra : { ...extra, authorization: `Bearer ${this.o.apiKey}` };
  }
}

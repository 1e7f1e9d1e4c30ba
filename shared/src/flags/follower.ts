import type { Queryable } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import type { RedisClient } from '../redis/connections.ts';
import { publishTo, subscribeTo, type Subscription } from '../redis/pubsub.ts';
import { flagSetVersion, loadFlags, type FlagSnapshot } from '../sql/flags.ts';
import type { Flag } from './evaluate.ts';

/** One change a follower saw, in version order: what the SSE stream sends. */
export type FlagEvent = { type: 'flag'; flag: Flag } | { type: 'delete'; name: string; version: number };

/** What a listener is told: the events of one adoption and the set's new version; `closed` once at stop. */
export type FlagListener = (e: { events: FlagEvent[]; version: number } | 'closed') => void;

/** What a follower needs. */
export interface FlagFollowerDeps {
  /** The first shard's pool (flags live there). */
  db: Queryable;
  /** A producer-role connection (PUBLISH). */
  pub: RedisClient;
  /** A subscriber-role connection; may carry other channels too. */
  sub: RedisClient;
  prefix: string;
  /** SLUICE_FLAGS_RECONCILE_MS: how often the stored set's version is compared with ours. */
  reconcileMs: number;
  log: Logger;
}

/**
 * Every gateway's copy of the flag set. Three paths bring a change in, all
 * ending in the same reload of the whole set from Postgres (never from the
 * message itself, so a reordered or duplicated message cannot install an old
 * state):
 *
 * 1. the gateway that stored a change reloads before answering the admin call;
 * 2. it publishes the new version on `{prefix}:flags`; every follower whose
 *    version is lower reloads at once (typically a few ms);
 * 3. every `reconcileMs` each follower reads the stored version (one indexed
 *    max) and reloads when it is behind: a lost message, a Redis outage or a
 *    change made by SQL heal within that period.
 *
 * A reload never moves backwards (a snapshot older than the one held is
 * dropped), and reloads are single-flight with at most one queued behind.
 */
export class FlagFollower {
  private snapshot: FlagSnapshot = { version: 0, flags: [] };
  private byName = new Map<string, Flag>();
  private readonly listeners = new Set<FlagListener>();
  private readonly channel: string;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private subscription: Subscription | undefined;
  private stopped = false;
  private ended = false;

  constructor(private readonly d: FlagFollowerDeps) {
    this.channel = `${d.prefix}:flags`;
  }

  /** The version of the set held (0 before any change). */
  get version(): number {
    return this.snapshot.version;
  }

  /** The flag named `name`, or undefined. */
  get(name: string): Flag | undefined {
    return this.byName.get(name);
  }

  /** Every flag, by name. */
  all(): readonly Flag[] {
    return this.snapshot.flags;
  }

  /** Subscribe, load the set, start the reconcile timer. */
  async start(): Promise<void> {
    // Every gateway subscribes to the one channel (on a Redis Cluster, sharded pub/sub: delivered to all its subscribers).
    this.subscription = await subscribeTo(this.d.sub, this.channel, (message) => {
      const v = Number(message);
      if (Number.isFinite(v) && v > this.version) this.refresh().catch((err: unknown) => this.d.log.warn({ err }, 'flag reload after a message failed; the reconcile retries'));
    });
    await this.refresh();
    this.timer = setInterval(() => {
      this.reconcile().catch((err: unknown) => this.d.log.warn({ err }, 'flag reconcile failed'));
    }, this.d.reconcileMs);
    this.timer.unref();
  }

  /** Reload when the stored version is ahead of ours. */
  async reconcile(): Promise<void> {
    if ((await flagSetVersion(this.d.db)) > this.version) await this.refresh();
  }

  /** Tell every follower that `version` is stored. Never throws: the reconcile is the backstop. */
  async announce(version: number): Promise<void> {
    await publishTo(this.d.pub, this.channel, String(version)).catch((err: unknown) => this.d.log.warn({ err }, 'flag change announcement failed; followers reconcile'));
  }

  /** Reload the set now (single-flight; a call during a reload waits for one more, which sees everything committed before the call). */
  refresh(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.load().finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => {})
      .then(() => {
        this.queued = undefined;
        return this.refresh();
      });
    return this.queued;
  }

  /** Listen to adopted changes; returns the unsubscribe. After `endListeners` a new listener hears `closed` at once. */
  onChange(fn: FlagListener): () => void {
    if (this.ended) {
      queueMicrotask(() => fn('closed'));
      return () => {};
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Tell every listener `closed` (open SSE streams end, so their SDKs
   * reconnect through the load balancer to a gateway that is not draining).
   * The set itself is still followed. Idempotent.
   */
  endListeners(): void {
    this.ended = true;
    for (const fn of this.listeners) fn('closed');
    this.listeners.clear();
  }

  /** Stop following; listeners hear `closed`. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.endListeners();
    await this.subscription?.close().catch(() => {});
  }

  private async load(): Promise<void> {
    const next = await loadFlags(this.d.db);
    if (next.version <= this.snapshot.version && this.snapshot.version > 0) return;
    const events = diff(this.byName, next);
    this.snapshot = next;
    this.byName = new Map(next.flags.map((f) => [f.name, f]));
    if (events.length === 0) return;
    for (const fn of this.listeners) fn({ events, version: next.version });
  }
}

/**
 * The changes from `old` to `next`, in version order. A deletion's version is
 * not in the snapshot (its row is gone): it is reported with the set's version,
 * which is at least the deletion's.
 */
function diff(old: ReadonlyMap<string, Flag>, next: FlagSnapshot): FlagEvent[] {
  const events: FlagEvent[] = [];
  const seen = new Set<string>();
  for (const f of next.flags) {
    seen.add(f.name);
    if (old.get(f.name)?.version !== f.version) events.push({ type: 'flag', flag: f });
  }
  for (const name of old.keys()) if (!seen.has(name)) events.push({ type: 'delete', name, version: next.version });
  return events.sort((a, b) => versionOf(a) - versionOf(b));
}

function versionOf(e: FlagEvent): number {
  return e.type === 'flag' ? e.flag.version : e.version;
}

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '@sluice/shared/log/index.ts';
import { whenReady } from '@sluice/shared/redis/connect.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import { claimFence, fenceOf } from '@sluice/shared/sql/partition-fences.ts';
import type { PartitionRef } from '@sluice/shared/topology/partitions.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { planShare } from './fair-share.ts';
import { LeaseStore } from './lease-store.ts';
import type { OwnershipHandlers, PartitionGrant, PartitionOwnership } from './ownership.ts';

/**
 * Lease-based partition ownership: each partition is consumed by one writer
 * at a time. Every SLUICE_LEASE_RENEW_MS a writer heartbeats into the writer
 * set, renews its leases, and moves one step toward its fair share
 * (fair-share.ts). States of a partition, as this writer sees it:
 *
 * - free:      not held by us (perhaps by another writer).
 * - acquiring: lease won with token t; Postgres's fencing token raised to t
 *              (the previous owner can no longer commit); the previous
 *              owner's unfinished jobs handed back to the queue head in
 *              order (recovery/orphans.ts); the worker starts.
 * - owned:     the worker runs; the lease is renewed each check.
 * - releasing: surplus (what peers are short of) or shutdown: the worker
 *              closes (open batch committed, active jobs done), THEN the lease
 *              is deleted, so the next owner starts from a queue with nothing
 *              in flight. Still renewed meanwhile.
 * - lost:      renewal failed, the lease lapsed locally, or a flush found a
 *              newer token: the worker stops (uncommitted jobs go back to the
 *              queue head) and the partition becomes free.
 *
 * A dead writer's partitions are taken over once its leases expire and the
 * next check runs: within SLUICE_LEASE_TTL_MS + SLUICE_LEASE_RENEW_MS (plus
 * the takeover itself: a fence UPDATE and the recovery batch).
 */

type State = 'acquiring' | 'owned' | 'releasing' | 'lost';

interface Held {
  p: PartitionRef;
  token: number;
  state: State;
  /** performance.now() before which the lease is surely still ours. */
  validUntil: number;
  /** The consumer was started (acquire succeeded). */
  started: boolean;
  /** Operations on this partition run one after another. */
  chain: Promise<void>;
}

/** Lease timing (SLUICE_LEASE_TTL_MS, SLUICE_LEASE_RENEW_MS: renew ≤ TTL/2, checked by the config). */
export interface LeaseSettings {
  /** SLUICE_QUEUE_PREFIX */
  prefix: string;
  ttlMs: number;
  renewMs: number;
}

/** What `LeasedPartitions` needs. */
export interface LeasedPartitionsDeps {
  settings: LeaseSettings;
  /** The partitions to share (the map's consumable ones) and each shard's pool, for the fencing tokens. */
  topology: Topology;
  /** A `producer`-role connection (fails fast); the caller's to close. */
  redis: Redis;
  log: Logger;
  /** Registry to add the ownership counters to (the writer's). */
  registry?: Registry;
  /** Before raising a fencing token on `shard`: throws when its server must not take writes (confirm/timeline-floor.ts); the takeover then fails and is tried again. */
  beforeClaim?(shard: string): Promise<void>;
}

/** A writer's id: readable by operators (host, pid) and unique per start. */
export function newWriterId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Lease-based ownership (see the module comment). */
export class LeasedPartitions implements PartitionOwnership {
  /** This writer's id in the writer set and in lease values. */
  readonly id = newWriterId();
  private readonly held = new Map<string, Held>();
  /** Consecutive checks each partition has been seen free, by name. */
  private readonly freeChecks = new Map<string, number>();
  private readonly ttl: number;
  private readonly margin: number;
  private readonly log: Logger;
  private readonly counters: { acquired: Counter; lost: Counter; released: Counter };
  private readonly store: LeaseStore;
  private handlers: OwnershipHandlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private action: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private lastTickError = 0;

  constructor(private readonly d: LeasedPartitionsDeps) {
    this.ttl = d.settings.ttlMs;
    // Renewals are timed from before they were sent; the margin covers clock-rate drift.
    this.margin = Math.max(20, Math.floor(this.ttl / 10));
    this.store = new LeaseStore(d.redis, d.settings.prefix, this.ttl);
    this.log = d.log.child({ writer: this.id });
    const registers = d.registry ? [d.registry] : [];
    this.counters = {
      acquired: new Counter({ name: 'sluice_writer_partitions_acquired_total', help: 'Partition leases won (each starts a takeover)', registers }),
      released: new Counter({ name: 'sluice_writer_partitions_released_total', help: 'Partitions handed over cleanly (rebalance or shutdown)', registers }),
      lost: new Counter({ name: 'sluice_writer_partitions_lost_total', help: 'Partitions lost: lease lapsed or fenced out by a newer owner', registers }),
    };
  }

  /** Join the writer set, take this writer's first share, then check every SLUICE_LEASE_RENEW_MS. */
  async start(handlers: OwnershipHandlers): Promise<void> {
    this.handlers = handlers;
    // Not fatal: a writer started before Redis simply owns nothing until a check succeeds.
    if (!(await whenReady(this.d.redis, this.ttl))) this.log.warn('Redis not ready; ownership checks will keep trying');
    await this.tick();
    await this.action;
    this.timer = setInterval(() => void this.tick(), this.d.settings.renewMs);
  }

  owned(): readonly string[] {
    return [...this.held.values()].filter((h) => h.state === 'owned').map((h) => h.p.name).sort();
  }

  /** Release every partition (each drains first), leave the writer set, close. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.action?.catch(() => {});
      // Renewals go on (the timer runs) while the partitions drain.
      await Promise.allSettled([...this.held.values()].map((h) => this.release(h, 'shutdown')));
      clearInterval(this.timer);
      await this.store.heartbeat(this.id, false).catch(() => {});
    })();
    return this.stopping;
  }

  /** One check: heartbeat, renew, one rebalance step. Never throws; one at a time. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const [beat] = await Promise.allSettled([this.store.heartbeat(this.id), this.renewAll()]);
      if (beat.status === 'rejected') throw beat.reason;
      const live = beat.value;
      if (this.stopping || this.action) return;
      const parts = this.d.topology.map.consumable();
      const retired = [...this.held.values()].filter((h) => !parts.some((r) => r.name === h.p.name));
      if (retired.length > 0) {
        // The map moved on (an epoch drained and closed): give those up, their queues are empty.
        this.action = Promise.all(retired.map((h) => this.release(h, 'no longer consumable'))).then(() => {});
      } else {
        this.action = this.rebalance(parts, live);
      }
      // `finally` passes a rejection on: catch it here, or a Redis timeout mid-rebalance (a Redis Cluster failover) is an unhandled rejection that ends the process.
      void this.action
        ?.finally(() => (this.action = undefined))
        .catch((err: unknown) => this.log.warn({ err }, 'ownership change failed; the next check tries again'));
    } catch (err) {
      // Once per lease period at most: a Redis outage would otherwise log every check.
      if (Date.now() - this.lastTickError > this.ttl) {
        this.log.warn({ err }, 'ownership check failed');
        this.lastTickError = Date.now();
      }
    } finally {
      this.ticking = false;
    }
  }

  /** One step toward the fair share of `parts` (fair-share.ts works on positions in that list). */
  private async rebalance(parts: readonly PartitionRef[], live: string[]): Promise<void> {
    const names = parts.map((r) => r.name);
    const owners = (await this.store.owners(names)).map((l) => l?.owner ?? null);
    const freeChecks = names.map((n, i) => {
      const checks = owners[i] === null ? (this.freeChecks.get(n) ?? 0) + 1 : 0;
      this.freeChecks.set(n, checks);
      return checks;
    });
    const held = new Set(names.flatMap((n, i) => (this.held.has(n) ? [i] : [])));
    const plan = planShare({ me: this.id, live, owners, freeChecks, held });
    if (plan.kind === 'acquire') await this.acquireAll(plan.partitions.map((i) => parts[i]!));
    else if (plan.kind === 'release') await Promise.all(plan.partitions.map((i) => this.release(this.held.get(names[i]!)!, 'rebalance')));
  }

  /** Renew every held lease; a lease not renewed by its local deadline is lost. */
  private async renewAll(): Promise<void> {
    await Promise.all(
      [...this.held.values()].map(async (h) => {
        if (h.state === 'lost') return;
        const sentAt = performance.now();
        try {
          if (await this.store.renew(h.p.name, this.id, h.token)) h.validUntil = sentAt + this.ttl - this.margin;
          else this.lose(h, 'lease no longer ours (expired or taken)');
        } catch (err) {
          if (performance.now() >= h.validUntil) this.lose(h, `lease not renewed in time: ${(err as Error).message}`);
        }
      }),
    );
  }

  private async acquireAll(partitions: readonly PartitionRef[]): Promise<void> {
    for (const p of partitions) if (!this.stopping) await this.acquire(p);
  }

  /** Win partition `p` and start its consumer (see the states above). */
  private async acquire(p: PartitionRef): Promise<void> {
    const sentAt = performance.now();
    const token = await this.store.acquire(p.name, this.id).catch((err: unknown) => {
      this.log.warn({ err, partition: p.name }, 'lease acquire failed');
      return 0;
    });
    if (token === 0) return; // someone was faster
    const h: Held = { p, token, state: 'acquiring', validUntil: sentAt + this.ttl - this.margin, started: false, chain: Promise.resolve() };
    this.held.set(p.name, h);
    await this.enqueue(h, 'takeover', async () => {
      await this.d.beforeClaim?.(p.shard);
      const newer = await claimFence(this.d.topology.db(p.shard), p.name, token, this.id);
      if (newer !== null) {
        // Redis's counter is behind Postgres (Redis lost data): the next acquisition gets a higher token.
        await this.store.raiseFloor(p.name, newer);
        throw new Error(`token ${token} is older than Postgres's ${newer}`);
      }
      if (h.state !== 'acquiring') return;
      await this.handlers!.acquire(p, this.grant(h));
      h.started = true;
      if (h.state === 'acquiring') h.state = 'owned';
      this.counters.acquired.inc();
      this.log.info({ partition: p.name, token }, 'partition acquired');
    });
    if (!h.started && h.state === 'acquiring') await this.release(h, 'takeover failed');
  }

  private grant(h: Held): PartitionGrant {
    return {
      token: h.token,
      fence: fenceOf(h.p.name, h.token),
      valid: () => h.state !== 'lost' && performance.now() < h.validUntil,
      lost: (reason) => this.lose(h, reason),
    };
  }

  /** The lease is gone (or useless): stop the consumer, forget the partition. */
  private lose(h: Held, reason: string): void {
    if (h.state === 'lost' || this.held.get(h.p.name) !== h) return;
    this.log.warn({ partition: h.p.name, token: h.token, reason }, 'partition lost');
    this.counters.lost.inc();
    this.release(h, reason, true).catch((err: unknown) => this.log.warn({ err, partition: h.p.name }, 'releasing a lost partition failed'));
  }

  /** Stop the consumer (it drains), then delete the lease if still ours. */
  private release(h: Held, why: string, lost = false): Promise<void> {
    if (h.state === 'releasing' || h.state === 'lost') return h.chain;
    h.state = lost ? 'lost' : 'releasing';
    return this.enqueue(h, 'release', async () => {
      try {
        if (h.started) await this.handlers!.release(h.p);
      } finally {
        await this.store.release(h.p.name, this.id, h.token).catch(() => {}); // expires on its own otherwise
        if (this.held.get(h.p.name) === h) this.held.delete(h.p.name);
        if (!lost && h.started) {
          this.counters.released.inc();
          this.log.info({ partition: h.p.name, token: h.token, why }, 'partition released');
        }
      }
    });
  }

  private enqueue(h: Held, what: string, fn: () => Promise<void>): Promise<void> {
    h.chain = h.chain.then(fn).catch((err: unknown) => this.log.warn({ err, partition: h.p.name }, `partition ${what} failed`));
    return h.chain;
  }
}

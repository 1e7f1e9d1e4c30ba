import type { Queryable } from '@sluice/shared/db/pool.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { whenReady } from '@sluice/shared/redis/connect.ts';
import type { RedisClient } from '@sluice/shared/redis/connections.ts';
import { serverState, type ServerState } from '@sluice/shared/sql/replication.ts';
import { NotPrimaryError, StaleTimelineError, TimelineFloorUnavailableError } from './errors.ts';

/** How long start() waits for the control connection before its first read (then: read before the first batch). */
const START_READY_MS = 5000;

/**
 * Fencing an old primary that comes back. After a failover the promoted
 * standby writes on a new timeline; the old primary, restarted from its own
 * data folder, is a read-write server still on the old one. If the shard's
 * address ever leads to it again, nothing Sluice sends may commit there: its
 * commits would be acknowledged and then abandoned with that server.
 *
 * A writer cannot tell from the server alone (the old primary does not know
 * it was replaced), and a writer started after the failover may never have
 * seen the new primary. So the highest timeline any writer has seen each
 * shard's primary on is kept in Redis (one key per shard, raised with a
 * set-if-greater script, never lowered), and every batch transaction reads
 * the server's role and timeline in its BEGIN round trip (flush/transaction.ts)
 * and is rolled back before any statement when the server is in recovery or
 * on a timeline below that floor: the jobs stay queued and the batch is
 * retried with backoff until the address is right again.
 *
 * Steady state costs no round trip: the floor is held in memory, read from
 * Redis at start, before a connection's first batch (after a failover every
 * connection is new) and every REFRESH_MS (for an address that switches
 * servers under a kept connection, such as PgBouncer). Redis is written only
 * when a writer sees a newer timeline, before its first commit there.
 *
 * Bound: a server is refused once some writer has seen a newer timeline. An
 * old primary that is back before any writer reached the promoted one is not
 * (nothing distinguishes it then); with SLUICE_CONFIRM_REPLICAS ≥ 1 its
 * commits are still never confirmed, so their jobs stay in Redis and are
 * replayed on the new primary. A Redis that loses the key (no AOF) starts the
 * floor again from what the writers see.
 */

/** The Redis key of `shard`'s timeline floor. */
export function timelineFloorKey(prefix: string, shard: string): string {
  return `${prefix}:sluice:primary-timeline:${shard}`;
}

// Set-if-greater; returns the value held afterwards.
const RAISE = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if want > cur then redis.call('SET', KEYS[1], ARGV[1]) return want end
return cur`;

/** Re-read the shared floor this often while running. */
const REFRESH_MS = 1000;
/** A refusal is logged at most this often per shard (each retry is logged by the pipeline too). */
const LOG_EVERY_MS = 5000;

/** What the floor reports to (narrow: the writer's metrics). */
export interface TimelineFloorMetrics {
  refused(shard: string, reason: 'recovery' | 'stale-timeline'): void;
  floor(shard: string, timeline: number): void;
}

/** The shards' timeline floors, shared by every writer through Redis (see the module comment). */
export class TimelineFloor {
  private readonly known = new Map<string, number>();
  /** Connections whose server has been checked against a floor read after they were opened. */
  private readonly seen = new WeakSet<object>();
  private readonly loggedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly shards: () => readonly string[],
    private readonly metrics: TimelineFloorMetrics,
    private readonly log: Logger,
  ) {}

  /**
   * Read every shard's floor, then keep re-reading it in the background.
   * Never throws: a writer may start before its Redis connection is ready,
   * and no batch depends on this read (a connection's first batch reads the
   * floor itself, and is retried while Redis fails).
   */
  async start(): Promise<void> {
    // The control connection has no offline queue: a read sent while it still connects fails at once.
    await whenReady(this.redis, START_READY_MS);
    await this.refreshAll().catch((err: unknown) => this.log.warn({ err }, 'timeline floor: first read from Redis failed; each connection reads it before its first batch'));
    this.timer = setInterval(() => {
      this.refreshAll().catch((err: unknown) => this.log.warn({ err }, 'timeline floor: refresh from Redis failed'));
    }, REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The floor of `shard` as this writer knows it (0: none yet). */
  floorOf(shard: string): number {
    return this.known.get(shard) ?? 0;
  }

  /**
   * Judge the server a batch transaction runs on, from the state read in its
   * BEGIN round trip; throws (the caller rolls back, the batch is retried)
   * when it must not take the batch. `conn` is the connection, to know
   * whether the floor was read since it was opened.
   */
  async check(shard: string, conn: object, st: ServerState): Promise<void> {
    if (!this.seen.has(conn)) {
      await this.refresh(shard);
      this.seen.add(conn);
    }
    await this.judge(shard, st);
  }

  /** The same judgement for a write outside a batch (a partition's fence claim): one extra query, rare. */
  async verify(shard: string, db: Queryable): Promise<void> {
    await this.refresh(shard);
    await this.judge(shard, await serverState(db));
  }

  private async judge(shard: string, st: ServerState): Promise<void> {
    if (st.inRecovery || st.timeline === null) {
      this.refuse(shard, 'recovery', new NotPrimaryError(`shard ${shard}: the server behind its address is a standby (in recovery); batch rolled back, jobs stay queued`));
    }
    const tl = st.timeline!;
    let floor = this.floorOf(shard);
    if (tl > floor) floor = await this.raise(shard, tl);
    if (tl < floor) {
      this.refuse(shard, 'stale-timeline', new StaleTimelineError(`shard ${shard}: the server behind its address is on timeline ${tl}, but a primary of this shard has been seen on ${floor} (an old primary is back behind the address?); refused before anything commits there, jobs stay queued until the address leads to the current primary`));
    }
  }

  private refuse(shard: string, reason: 'recovery' | 'stale-timeline', err: Error): never {
    this.metrics.refused(shard, reason);
    const now = performance.now();
    if (reason === 'stale-timeline' && now - (this.loggedAt.get(shard) ?? -Infinity) >= LOG_EVERY_MS) {
      this.loggedAt.set(shard, now);
      this.log.error({ shard, floor: this.floorOf(shard) }, err.message);
    }
    throw err;
  }

  /** Record `timeline` in Redis (set-if-greater) before anything commits on it; returns the floor afterwards. */
  private async raise(shard: string, timeline: number): Promise<number> {
    const held = Number(await redisStep(this.redis.eval(RAISE, 1, timelineFloorKey(this.prefix, shard), timeline)));
    const from = this.floorOf(shard);
    this.learn(shard, held);
    if (held === timeline && from > 0) this.log.warn({ shard, from, to: timeline }, 'primary seen on a new timeline (a standby was promoted): servers on older timelines are refused from now on');
    return this.floorOf(shard);
  }

  private async refresh(shard: string): Promise<void> {
    const v = await redisStep(this.redis.get(timelineFloorKey(this.prefix, shard)));
    if (v !== null) this.learn(shard, Number(v));
  }

  private async refreshAll(): Promise<void> {
    await Promise.all(this.shards().map((s) => this.refresh(s)));
  }

  private learn(shard: string, timeline: number): void {
    if (!Number.isSafeInteger(timeline) || timeline <= this.floorOf(shard)) return;
    this.known.set(shard, timeline);
    this.metrics.floor(shard, timeline);
  }
}

/** A Redis failure here must retry the batch (classify.ts), never count toward failing its jobs. */
async function redisStep<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new TimelineFloorUnavailableError(`timeline floor: Redis failed (${(err as Error).message})`, { cause: err });
  }
}

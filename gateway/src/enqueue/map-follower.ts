import type { Logger } from '@sluice/shared/log/index.ts';
import type { GatewayBeat } from '@sluice/shared/topology/fleet.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { Coalescer } from './coalescer.ts';

/**
 * Keeps this gateway's routing in step with the shard map and tells the
 * fleet registry which map it routes with (shared/src/topology/fleet.ts):
 *
 *   start: register with the map loaded at start, THEN re-read the map: a
 *          writer that missed this gateway in the registry can only have
 *          closed an epoch that the re-read map no longer routes to. Until
 *          that has happened once (Redis may be down at start: it is retried
 *          every renew period) the gateway admits no write (`registered`);
 *   map changes: requests route with the new map from the next one on (the
 *          topology swaps it); the coalescer sends what it holds and waits
 *          for Redis to confirm; only then is the new version reported, so
 *          no live gateway can still append to an epoch writers close;
 *   every renew period: heartbeat; on stop: leave.
 */
export class MapFollower {
  /** Registered in the fleet and caught up with the store: writes may be routed. */
  registered = false;
  private routed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly topology: Topology,
    private readonly coalescer: Coalescer,
    private readonly beat: GatewayBeat,
    /** SLUICE_LEASE_RENEW_MS */
    private readonly renewMs: number,
    private readonly log: Logger,
  ) {}

  /** Register, catch up with the store, then heartbeat every renew period. */
  async start(): Promise<void> {
    this.topology.onChange(async (next) => {
      await this.coalescer.flush();
      this.routed = next.version;
      // Only report, never re-read: this runs inside the topology's adoption of
      // `next`, which a re-read would wait for (the first heartbeat's re-read
      // adopting a map stored meanwhile, e.g. at a move's cutover, hung the
      // gateway's start for good).
      await this.report();
    });
    this.routed = this.topology.map.version;
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.renewMs);
    this.timer.unref();
  }

  /** Stop the heartbeat and leave the registry. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beat.leave().catch(() => {});
  }

  private async heartbeat(): Promise<void> {
    if (!(await this.report()) || this.registered) return;
    try {
      await this.topology.refresh();
      this.registered = true;
    } catch (err) {
      this.log.debug({ err: { message: (err as Error).message } }, 'gateway map re-read failed');
    }
  }

  /** Tell the registry which map version this gateway routes with; false if that failed (retried at the next beat). */
  private async report(): Promise<boolean> {
    try {
      await this.beat.beat(this.routed);
      return true;
    } catch (err) {
      this.log.debug({ err: { message: (err as Error).message } }, 'gateway heartbeat failed');
      return false;
    }
  }
}

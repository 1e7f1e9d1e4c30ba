import type { RedisClient as Redis } from '../redis/connections.ts';

/**
 * Word of a new shard map over Redis pub/sub, so processes adopt it at once
 * instead of at their next poll (SLUICE_TOPOLOGY_POLL_MS). A move's cutover
 * waits for every gateway to route by the new map, so this is what keeps its
 * pause short. Only a hint: a lost message costs one poll period, and the
 * map itself is always read from Postgres.
 */
export class MapChanges {
  private readonly channel: string;
  private listener: ((channel: string, message: string) => void) | undefined;

  constructor(
    /** A producer-role connection (PUBLISH). */
    private readonly pub: Redis,
    /** A subscriber-role connection; may also carry other channels (the gateway's acks). */
    private readonly sub: Redis,
    prefix: string,
  ) {
    this.channel = `${prefix}:map`;
  }

  /** Tell every follower that `version` is stored. Never throws. */
  async publish(version: number): Promise<void> {
    await this.pub.publish(this.channel, String(version)).catch(() => {});
  }

  /** Call `onVersion` with each published version. */
  async follow(onVersion: (version: number) => void): Promise<void> {
    this.listener = (channel, message) => {
      if (channel === this.channel) onVersion(Number(message));
    };
    this.sub.on('message', this.listener);
    await this.sub.subscribe(this.channel);
  }

  /** Stop following. Idempotent. */
  async stop(): Promise<void> {
    if (this.listener === undefined) return;
    this.sub.off('message', this.listener);
    this.listener = undefined;
    await this.sub.unsubscribe(this.channel).catch(() => {});
  }
}

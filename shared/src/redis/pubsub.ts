import { isCluster, type RedisClient } from './connections.ts';

/**
 * Point-to-point messages (the ack channels). On one Redis, classic pub/sub.
 * On a Redis Cluster, classic PUBLISH is broadcast over the cluster bus to
 * every node; sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7) keeps a
 * channel's messages on the master (and replicas) of the channel's slot, so
 * ack traffic spreads over the masters like the queues do. ioredis's Cluster
 * client (`shardedSubscribers`, connections.ts) holds one subscriber per
 * master and re-subscribes when a channel's slot moves.
 */

/** Send `message` on `channel`; resolves with the number of receivers Redis counted. */
export function publishTo(redis: RedisClient, channel: string, message: string): Promise<number> {
  return isCluster(redis) ? (redis.spublish(channel, message) as Promise<number>) : redis.publish(channel, message);
}

/** A subscription: `close()` unsubscribes (when the connection is up) and stops delivering. Idempotent. */
export interface Subscription {
  close(): Promise<void>;
}

/**
 * Subscribe `subscriber` to `channel`; resolves once Redis confirmed it (a
 * message published after that is delivered while the connection stays up).
 */
export async function subscribeTo(subscriber: RedisClient, channel: string, onMessage: (message: string) => void): Promise<Subscription> {
  const sharded = isCluster(subscriber);
  const event = sharded ? 'smessage' : 'message';
  const listener = (ch: string, message: string) => {
    if (ch === channel) onMessage(message);
  };
  subscriber.on(event, listener);
  try {
    if (sharded) await subscriber.ssubscribe(channel);
    else await subscriber.subscribe(channel);
  } catch (err) {
    subscriber.off(event, listener);
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= (async () => {
        subscriber.off(event, listener);
        if (subscriber.status !== 'ready') return;
        await (sharded ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel)).then(
          () => {},
          () => {},
        );
      })();
      return closed;
    },
  };
}

import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { ackChannel, type WriteOutcome } from '@sluice/shared/queue/contract.ts';
import type { AddressedOutcome } from '../flush/types.ts';
import { publishTo } from '@sluice/shared/redis/pubsub.ts';

/**
 * Publishes outcomes to the gateway nodes waiting for `committed` acks: one
 * PUBLISH (SPUBLISH on a Redis Cluster: only the channel's shard carries it) of a JSON array of `WriteOutcome` per node per batch, on
 * `ackChannel(prefix, node)`. Fire and forget after COMMIT: a failed publish
 * is logged and counted, never retried and never holds up the batch — the
 * waiting gateway answers 504 with the writeId and the client polls
 * `/v1/writes/{id}`, which reads Postgres. Pub/sub is at-most-once anyway:
 * a gateway that is not subscribed at that moment misses the message.
 */
export class AckPublisher {
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
    private readonly onFailure: () => void = () => {},
  ) {}

  /** Group by node and publish; returns at once. */
  publish(acks: readonly AddressedOutcome[]): void {
    if (acks.length === 0) return;
    const byNode = new Map<string, WriteOutcome[]>();
    for (const a of acks) {
      let list = byNode.get(a.node);
      if (!list) byNode.set(a.node, (list = []));
      list.push(a.outcome);
    }
    for (const [node, outcomes] of byNode) {
      const p = publishTo(this.redis, ackChannel(this.prefix, node), JSON.stringify(outcomes))
        .catch((err: unknown) => {
          this.onFailure();
          this.log.warn({ err, node, outcomes: outcomes.length }, 'ack publish failed; the gateway will time out and the client can poll the write status');
        })
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  /** Wait for publishes already started (before closing the connection). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}

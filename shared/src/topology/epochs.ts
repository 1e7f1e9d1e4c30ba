import type { Logger } from '../log/index.ts';
import type { PartitionRef } from './partitions.ts';
import type { ShardMap } from './shard-map.ts';
import type { Topology } from './topology.ts';

/**
 * Closes drained layout epochs (shard-map.ts). A shard's oldest open epoch
 * is closed when both hold:
 *
 * 1. every live gateway routes with a map at least as new as the one that
 *    opened the next epoch (fleet.ts): none can append to the old epoch any
 *    more — a gateway reports a version only after what it routed with the
 *    older one is in Redis, and a starting gateway registers before it
 *    re-reads the map and serves, so one the check missed routes with a map
 *    that already has the next epoch;
 * 2. every partition of the old epoch has an empty backlog (failed jobs
 *    stay for inspection and do not count).
 *
 * Then the writers release its partitions and take the next epoch's: every
 * write queued under the old layout committed before any write of the new
 * one. Any writer may run this; the map's compare-and-set keeps one winner.
 */

/** What the closer reads. */
export interface EpochCloserDeps {
  topology: Topology;
  /** Backlog (jobs still needing a writer) of one partition. */
  backlog(ref: PartitionRef): Promise<number>;
  /** Live gateways: node id → map version routed with. */
  gateways(): Promise<Map<string, number>>;
  log: Logger;
}

/** Why an epoch stays open, or null when it can close. */
export async function whyOpen(d: EpochCloserDeps, map: ShardMap, shard: string): Promise<string | null> {
  const [oldest, next] = map.openEpochs(shard);
  if (oldest === undefined || next === undefined) return 'it is the current epoch';
  const behind = [...(await d.gateways()).entries()].filter(([, v]) => v < next.since);
  if (behind.length > 0) return `gateways still routing with an older map: ${behind.map(([n, v]) => `${n}@${v}`).join(', ')}`;
  const refs = map.live().filter((r) => r.shard === shard && r.epoch === oldest.epoch);
  const backlogs = await Promise.all(refs.map((r) => d.backlog(r)));
  const left = backlogs.reduce((a, b) => a + b, 0);
  return left > 0 ? `${left} jobs still queued` : null;
}

/** Close every shard's oldest open epoch that has drained (see the module comment). Never throws. */
export async function closeDrainedEpochs(d: EpochCloserDeps): Promise<void> {
  const map = d.topology.map;
  for (const shard of map.shardNames) {
    if (map.openEpochs(shard).length < 2) continue;
    try {
      const oldest = map.openEpochs(shard)[0]!;
      const why = await whyOpen(d, map, shard);
      if (why !== null) {
        d.log.debug({ shard, epoch: oldest.epoch, why }, 'old epoch still open');
        continue;
      }
      await d.topology.propose((m) => (m.openEpochs(shard)[0]?.epoch === oldest.epoch && m.openEpochs(shard).length > 1 ? m.withClosed(shard, oldest.epoch) : null), `epoch ${oldest.epoch} of ${shard} drained`);
      d.log.info({ shard, epoch: oldest.epoch }, 'layout epoch drained and closed; writers move to the next one');
    } catch (err) {
      d.log.warn({ err, shard }, 'epoch close check failed');
    }
  }
}

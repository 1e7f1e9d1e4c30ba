import type { Config } from '@sluice/shared/config/schema.ts';
import { confirmReplicasOf } from '@sluice/shared/config/confirm.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import type { WriterMetrics } from '../metrics/metrics.ts';
import { StandbyConfirmer, type CommitPosition, type ConfirmMetrics } from './confirmer.ts';

/** The shards' confirmers, made once per writer (a shard's standby count defaults from its configured replicas). */
export interface Confirmers {
  /** Wait until `shard`'s standbys have the commit (see confirmer.ts); true when they have it, false when it completes unconfirmed (or the shard has no confirmation). */
  confirm(shard: string, c: CommitPosition): Promise<boolean>;
  /** Standbys each shard waits for (0: none). */
  readonly replicas: ReadonlyMap<string, number>;
}

export { confirmReplicasOf };

/** One confirmer per shard of the topology; `onNewTimeline` runs when one sees its shard's primary on a newer timeline. */
export function confirmersOf(config: Readonly<Config>, topology: Topology, metrics: WriterMetrics, log: Logger, onNewTimeline?: (shard: string) => Promise<void>): Confirmers {
  const m: ConfirmMetrics = {
    confirmed: (shard, seconds) => metrics.confirmSeconds.observe({ shard }, seconds),
    unconfirmed: (shard) => metrics.unconfirmed.inc({ shard }),
    timelineChanged: (shard) => metrics.timelineChanges.inc({ shard }),
    newTimeline: (shard) => void onNewTimeline?.(shard).catch((err: unknown) => log.warn({ err, shard }, 'after a timeline change: step failed')),
  };
  const byShard = new Map<string, StandbyConfirmer>();
  const replicas = new Map<string, number>();
  for (const spec of topology.shards) {
    const n = confirmReplicasOf(config, spec.replicas);
    replicas.set(spec.name, n);
    const settings = { replicas: n, position: config.SLUICE_CONFIRM_POSITION, timeoutMs: config.SLUICE_CONFIRM_TIMEOUT_MS, onTimeout: config.SLUICE_CONFIRM_ON_TIMEOUT };
    byShard.set(spec.name, new StandbyConfirmer(spec.name, topology.db(spec.name), settings, m, log));
  }
  metrics.config.set({ knob: 'SLUICE_CONFIRM_REPLICAS' }, Math.max(0, ...replicas.values()));
  return {
    replicas,
    confirm: (shard, c) => byShard.get(shard)?.confirm(c) ?? Promise.resolve(false),
  };
}

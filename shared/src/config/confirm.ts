import type { Config } from './schema.ts';

/**
 * Standbys a shard's commits must reach before the writer completes their
 * jobs (writer/src/confirm/): SLUICE_CONFIRM_REPLICAS, or 1 for a shard with
 * replicas configured and 0 without. The gateway reads it too: a
 * `Sluice-Ack: replicated` request to a shard without confirmation is refused.
 */
export function confirmReplicasOf(config: Pick<Config, 'SLUICE_CONFIRM_REPLICAS'>, replicaUrls: readonly string[]): number {
  return config.SLUICE_CONFIRM_REPLICAS ?? (replicaUrls.length > 0 ? 1 : 0);
}

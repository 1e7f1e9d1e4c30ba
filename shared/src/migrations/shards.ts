import type { Config } from '../config/schema.ts';
import { createPool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { shardSpecsOf } from '../topology/from-config.ts';
import { migrate } from './migrate.ts';

/**
 * Apply Sluice's migrations to every shard's primary, first shard first
 * (`pnpm migrate`, `pnpm start`): each shard has its own dedupe records,
 * dead letters and fences; the first also holds the shard map and moves.
 * `before` runs on each first (the dev demo's tables).
 */
export async function migrateShards(config: Readonly<Config>, log: Logger, before?: (pool: ReturnType<typeof createPool>, shard: string, index: number) => Promise<void>): Promise<void> {
  const shards = shardSpecsOf(config);
  for (const [i, shard] of shards.entries()) {
    const pool = createPool({ url: shard.url, max: 1, connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: 600_000, applicationName: 'sluice-migrate', log });
    try {
      await before?.(pool, shard.name, i);
      const applied = await migrate(pool);
      log.info({ shard: shard.name, applied }, applied.length ? 'migrations applied' : 'schema up to date');
    } finally {
      await pool.end();
    }
  }
}

// `pnpm migrate`: apply Sluice's migrations to every shard's primary (DATABASE_URL today).
import { loadConfigOrExit } from '../config/index.ts';
import { createPool } from '../db/pool.ts';
import { createLogger } from '../log/index.ts';
import { shardSpecsOf } from '../topology/from-config.ts';
import { migrate } from './migrate.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('migrate', config.SLUICE_LOG_LEVEL);
for (const shard of shardSpecsOf(config)) {
  const pool = createPool({ url: shard.url, max: 1, connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: 600_000, applicationName: 'sluice-migrate', log });
  try {
    const applied = await migrate(pool);
    log.info({ shard: shard.name, applied }, applied.length ? 'migrations applied' : 'schema up to date');
  } finally {
    await pool.end();
  }
}

// `pnpm migrate`: apply Sluice's migrations to DATABASE_URL.
import { loadConfigOrExit } from '../config/index.ts';
import { createPool } from '../db/pool.ts';
import { createLogger } from '../log/index.ts';
import { migrate } from './migrate.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('migrate', config.SLUICE_LOG_LEVEL);
const pool = createPool({ url: config.DATABASE_URL, max: 1, connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: 600_000, applicationName: 'sluice-migrate', log });
try {
  const applied = await migrate(pool);
  log.info({ applied }, applied.length ? 'migrations applied' : 'schema up to date');
} finally {
  await pool.end();
}

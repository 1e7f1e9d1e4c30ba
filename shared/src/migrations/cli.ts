// `pnpm migrate`: apply Sluice's migrations to every shard's primary (DATABASE_URL, or each of SLUICE_SHARDS).
import { loadConfigOrExit } from '../config/index.ts';
import { createLogger } from '../log/index.ts';
import { migrateShards } from './shards.ts';

const config = loadConfigOrExit(process.env);
await migrateShards(config, createLogger('migrate', config.SLUICE_LOG_LEVEL));

/**
 * Everything bench/ takes from @sluice/shared, in one place: server and
 * process spawners, migrations, the queue's job encoding. When those move,
 * re-point this file and nothing else in bench/ changes.
 */
export {
  REPO_ROOT,
  createLogger,
  createPool,
  freePort,
  introspectCatalog,
  jobIdOf,
  loadConfig,
  migrate,
  queueName,
  startPostgres,
  startRedis,
  startTsProcess,
  writeIdOf,
} from '@sluice/shared';
export type { LocalPostgres, LocalRedis, TsProcess, WriteJob, WriteRequest } from '@sluice/shared';

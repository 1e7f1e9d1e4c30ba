/**
 * Everything bench/ takes from the Sluice packages and the local server
 * spawners, in one place: servers, processes, migrations, the queue's job
 * encoding. When those move, re-point this file and nothing else in bench/
 * changes (bench/poison/strategies.ts times writer internals directly).
 */
export { REPO_ROOT, startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
export { freePort } from '@sluice/local-servers/free-port.ts';
export { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
export { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
export { createLogger } from '@sluice/shared/log/index.ts';
export { SseParser } from '@sluice/openfeature';
export { createPool } from '@sluice/shared/db/pool.ts';
export { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
export { loadConfig } from '@sluice/shared/config/index.ts';
export { migrate } from '@sluice/shared/migrations/migrate.ts';
export { queueName } from '@sluice/shared/partition-log/names.ts';
export { jobIdOf, writeIdOf } from '@sluice/shared/queue/ids.ts';
export { partitionRef } from '@sluice/shared/topology/partitions.ts';
export type { WriteJob, WriteRequest } from '@sluice/shared/queue/contract.ts';

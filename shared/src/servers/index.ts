/**
 * Private Postgres and Redis servers from local binaries, as child processes:
 * shared by the test harness (`test/harness`) and `pnpm dev`.
 */
export { freePort } from './free-port.ts';
export { startPostgres, startReplica, type LocalPostgres, type StartPostgresOptions, type StartReplicaOptions } from './postgres.ts';
export { startRedis, type LocalRedis, type StartRedisOptions } from './redis.ts';
export { pgBinDir, localServersAvailable } from './pg-bin.ts';
export { reapOnExit, type LogFn } from './child.ts';

/**
 * Dev and test tooling, never imported by production code (gateway/, writer/,
 * shared/): private Postgres and Redis servers from the local binaries (the
 * test harness, `pnpm dev`, the benchmarks) and the one spawner of Sluice's
 * own TypeScript processes.
 */
export { freePort } from './free-port.ts';
export { startPostgres, startReplica, type LocalPostgres, type StartPostgresOptions, type StartReplicaOptions } from './postgres.ts';
export { startRedis, type LocalRedis, type StartRedisOptions } from './redis.ts';
export { pgBinDir, localServersAvailable } from './pg-bin.ts';
export { reapOnExit, pipeLines, type LogFn } from './child.ts';
export { REPO_ROOT, spawnTs, startTsProcess, type TsProcess, type SpawnTsOptions, type StartTsOptions } from './processes.ts';

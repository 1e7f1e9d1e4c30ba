import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/index.ts';
import { RedisFactory } from '../redis/factory.ts';
import { Topology, type ShardSpec } from './topology.ts';

/** The shards the config names: SLUICE_SHARDS, else one, `main`, from DATABASE_URL and SLUICE_REPLICA_URLS. */
export function shardSpecsOf(config: Readonly<Pick<Config, 'DATABASE_URL' | 'SLUICE_REPLICA_URLS' | 'SLUICE_SHARDS'>>): ShardSpec[] {
  if (config.SLUICE_SHARDS !== undefined && config.SLUICE_SHARDS.length > 0) return config.SLUICE_SHARDS.map((s) => ({ name: s.name, url: s.url, replicas: s.replicas }));
  return [{ name: 'main', url: config.DATABASE_URL, replicas: config.SLUICE_REPLICA_URLS }];
}

/** The process's topology (not started: call `start()`), its primary pools sized by SLUICE_PG_POOL_MAX. */
export function topologyOf(config: Readonly<Config>, log: Logger, applicationName: string): Topology {
  return new Topology({
    shards: shardSpecsOf(config),
    partitions: config.SLUICE_PARTITIONS,
    sharding: { keys: config.SLUICE_SHARD_KEYS, ...(config.SLUICE_SHARD_MAP ? { ranges: config.SLUICE_SHARD_MAP } : {}) },
    pool: { max: config.SLUICE_PG_POOL_MAX, connectTimeoutMs: config.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: config.SLUICE_STATEMENT_TIMEOUT_MS, applicationName },
    pollMs: config.SLUICE_TOPOLOGY_POLL_MS,
    log,
  });
}

/** The process's Redis factory: the queue's Redis and the cache's. */
export function redisFactoryOf(config: Readonly<Config>, log: Logger): RedisFactory {
  return new RedisFactory({ queueUrl: config.REDIS_URL, cacheUrl: config.SLUICE_CACHE_REDIS_URL, timeoutMs: config.SLUICE_REDIS_TIMEOUT_MS, log });
}

import type { Registry } from 'prom-client';
import type { Catalog } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import type { Queryable } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import type { RedisClient as Redis } from '../redis/connections.ts';
import { cachePrefixOf } from './cache/keys.ts';
import { cacheTtlsOf, type CacheTtls } from './cache/store.ts';
import { replicaReadTimeoutMs, type QueryWrapper } from './loader.ts';

/** What the read path runs with (built once from the config by `readSettingsOf`). */
export interface ReadSettings {
  /** SLUICE_QUEUE_PREFIX: the cache's keys live under it. */
  prefix: string;
  ttls: CacheTtls;
  /** SLUICE_CACHE_LEASE_MS */
  leaseMs: number;
  /** SLUICE_STAMPEDE_WAIT_MS */
  stampedeWaitMs: number;
  /** SLUICE_RYW_WAIT_MS */
  rywWaitMs: number;
  replicas: {
    /** The shard's replica URLs (SLUICE_REPLICA_URLS today). */
    urls: readonly string[];
    checkMs: number;
    maxLagMs: number;
    /** A replica read slower than this goes to the primary instead. */
    readTimeoutMs: number;
    pool: { max: number; connectTimeoutMs: number; statementTimeoutMs: number };
  };
  /** SLUICE_POPULARITY_SAMPLE (0 = off), SLUICE_POPULARITY_FLUSH_MS, SLUICE_POPULARITY_MAX_KEYS, SLUICE_POPULARITY_TTL_S (as ms) */
  popularity: { sample: number; flushMs: number; maxMembers: number; ttlMs: number };
  /** SLUICE_MAX_ROWS_PER_REQUEST: keys of one multi-get, rows of one page. */
  maxKeysPerRequest: number;
  /** How long start waits for the cache connection before serving from the database. */
  cacheReadyWaitMs: number;
}

/** What every part of the read path (the read service, the warmer) is built from; each opens and closes its own replica pools. */
export interface ReadPathDeps {
  settings: ReadSettings;
  log: Logger;
  /** Introspected allowlisted tables. */
  catalog: Catalog;
  /** The shard's primary: fallback reads, the replica monitor's WAL position, index introspection. */
  primary: Queryable;
  /** A `cache`-role connection (auto-pipelined, no offline queue); the caller's to close. */
  cache: Redis;
  /** Registry for the read and replica metrics; default: one of its own. */
  registry?: Registry;
  /** Wraps every database read (tests count or pause reads). */
  wrapQuery?: QueryWrapper;
}

/** The read settings of one shard: its replicas, its cache namespace (`cachePrefixOf`). */
export function shardReadSettings(c: Readonly<Config>, shard: { name: string; replicas: readonly string[] }, firstShard: string): ReadSettings {
  return readSettingsOf(c, shard.replicas, cachePrefixOf(c.SLUICE_QUEUE_PREFIX, shard.name, firstShard));
}

/** The warmer's own knobs. */
export interface WarmerSettings {
  /** SLUICE_WARMER_INTERVAL_MS */
  intervalMs: number;
  /** SLUICE_WARMER_TOP_KEYS */
  topKeys: number;
  /** SLUICE_WARMER_HALF_LIFE_S */
  halfLifeS: number;
  /** SLUICE_POPULARITY_MAX_KEYS, SLUICE_POPULARITY_TTL_S (as ms): the bounds the warmer keeps when it rewrites the set. */
  popularity: { maxMembers: number; ttlMs: number };
}

/** The read path's settings from the config. */
export function readSettingsOf(c: Readonly<Config>, replicaUrls: readonly string[] = c.SLUICE_REPLICA_URLS, prefix: string = c.SLUICE_QUEUE_PREFIX): ReadSettings {
  return {
    prefix,
    ttls: cacheTtlsOf(c),
    leaseMs: c.SLUICE_CACHE_LEASE_MS,
    stampedeWaitMs: c.SLUICE_STAMPEDE_WAIT_MS,
    rywWaitMs: c.SLUICE_RYW_WAIT_MS,
    replicas: {
      urls: replicaUrls,
      checkMs: c.SLUICE_REPLICA_CHECK_MS,
      maxLagMs: c.SLUICE_MAX_REPLICA_LAG_MS,
      readTimeoutMs: replicaReadTimeoutMs(c),
      pool: { max: c.SLUICE_PG_POOL_MAX, connectTimeoutMs: c.SLUICE_PG_CONNECT_TIMEOUT_MS, statementTimeoutMs: c.SLUICE_STATEMENT_TIMEOUT_MS },
    },
    popularity: { sample: c.SLUICE_POPULARITY_SAMPLE, flushMs: c.SLUICE_POPULARITY_FLUSH_MS, maxMembers: c.SLUICE_POPULARITY_MAX_KEYS, ttlMs: c.SLUICE_POPULARITY_TTL_S * 1000 },
    maxKeysPerRequest: c.SLUICE_MAX_ROWS_PER_REQUEST,
    cacheReadyWaitMs: c.SLUICE_REDIS_TIMEOUT_MS * 5,
  };
}

/** The warmer's settings from the config. */
export function warmerSettingsOf(c: Readonly<Config>): WarmerSettings {
  return {
    intervalMs: c.SLUICE_WARMER_INTERVAL_MS,
    topKeys: c.SLUICE_WARMER_TOP_KEYS,
    halfLifeS: c.SLUICE_WARMER_HALF_LIFE_S,
    popularity: { maxMembers: c.SLUICE_POPULARITY_MAX_KEYS, ttlMs: c.SLUICE_POPULARITY_TTL_S * 1000 },
  };
}

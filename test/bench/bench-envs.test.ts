/**
 * The settings the benches give Sluice pass Sluice's own config check. No
 * test runs the benches, so a new cross-check could break one unnoticed
 * (the Zipf runs did: their warmer's top keys exceeded the popularity bound
 * added later, and the writer exited 78 at the start of a 10-minute bench).
 * bench/lib/services.ts checks every environment again before it spawns.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@sluice/shared/config/index.ts';
import { checkServiceEnv } from '../../bench/lib/services.ts';
import { ZIPF_ENV } from '../../bench/read/zipf.ts';
import { WAIT_ONE_ENV } from '../../bench/redis-cluster/index.ts';
import { lingerVariant, RETENTION_IDLE_ENV } from '../../bench/write/index.ts';

/** Where the benches' private servers would be: the check needs the keys, not the servers. */
const BASE = { DATABASE_URL: 'postgres://127.0.0.1:1/bench', REDIS_URL: 'redis://127.0.0.1:1', SLUICE_TABLES: 'bench_kv' };

describe('bench environments', () => {
  const sets: [string, Readonly<Record<string, string>>][] = [
    ['read: Zipf runs', ZIPF_ENV],
    ['write: --retention idle', RETENTION_IDLE_ENV],
    ['write: --adaptive-linger on', lingerVariant('on')!.env],
    ['write: --adaptive-linger off', lingerVariant('off')!.env],
    ['rediscluster: WAIT 1', WAIT_ONE_ENV],
  ];
  it.each(sets)('%s passes the config check', (_, env) => {
    expect(() => loadConfig({ ...BASE, ...env })).not.toThrow();
  });

  it('a refused environment stops the bench with the reason, before anything is spawned', () => {
    // The Zipf settings without the popularity bound: what broke.
    const { SLUICE_POPULARITY_MAX_KEYS: _, ...unbounded } = ZIPF_ENV;
    expect(() => checkServiceEnv('writer', { ...BASE, ...unbounded })).toThrow(/bench: writer would refuse its environment: invalid configuration:[\s\S]*SLUICE_POPULARITY_MAX_KEYS/);
    expect(() => checkServiceEnv('writer', { ...BASE, ...ZIPF_ENV })).not.toThrow();
  });
});

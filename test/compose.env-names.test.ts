/**
 * docker-compose.yml may only use env names Sluice knows: a misspelt knob
 * would be silently ignored (config only reads the keys of its schema).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys } from '@sluice/shared/config/schema.ts';

const ROOT = join(import.meta.dirname, '..');
const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

/** Every SLUICE_* token anywhere in the file (keys, `- NAME=value` items, comments, ${NAME}). */
function sluiceNames(text: string): string[] {
  return [...new Set(text.match(/\bSLUICE_[A-Z0-9_]+\b/g) ?? [])].sort();
}

/** Keys set in `environment:` maps (`NAME: value`) or lists (`- NAME=value`). */
function envKeys(text: string): string[] {
  const keys = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(?:-\s*)?([A-Z][A-Z0-9_]*)\s*[:=]/.exec(line);
    if (m) keys.add(m[1]!);
  }
  return [...keys].sort();
}

describe('docker-compose.yml env names', () => {
  it('uses only SLUICE_* names that are config keys', () => {
    const names = sluiceNames(compose);
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((n) => !configKeys.includes(n))).toEqual([]);
  });

  it('gives every Sluice service its database and Redis URLs', () => {
    const keys = envKeys(compose);
    expect(keys).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL']));
    expect(configKeys).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL']));
  });

  it('runs the queue Redis with the durability settings the gateway requires and a memory bound, the cache Redis evicting', () => {
    const [queue, cache] = [...compose.matchAll(/redis-server[^\n]*/g)].map((m) => m[0]);
    expect(queue).toMatch(/--appendonly, "yes"/);
    expect(queue).toMatch(/--appendfsync, always/);
    expect(queue).toMatch(/--maxmemory-policy, noeviction/);
    expect(queue).toMatch(/--maxmemory, \d+[kmg]b/);
    expect(cache).toMatch(/--maxmemory-policy, allkeys-lru/);
    expect(cache).toMatch(/--maxmemory, \d+[kmg]b/);
    expect(compose).toMatch(/^ {2}SLUICE_CACHE_REDIS_URL: redis:\/\/cache-redis:6379$/m);
  });

  it('health-checks gateways on /livez behind HAProxy (never on /readyz, which judges Postgres)', () => {
    const haproxy = readFileSync(join(ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
    expect(haproxy).toMatch(/option httpchk GET \/livez/);
    expect(haproxy).not.toMatch(/httpchk[^\n]*readyz/);
    for (const g of ['gateway1', 'gateway2', 'gateway3']) expect(haproxy).toContain(`server ${g} ${g}:3000`);
  });
});

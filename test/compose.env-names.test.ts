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

  it('runs Redis with the durability settings the gateway requires', () => {
    const redisCommand = /redis-server[^\n]*/.exec(compose)?.[0] ?? '';
    expect(redisCommand).toMatch(/--appendonly, "yes"/);
    expect(redisCommand).toMatch(/--appendfsync, always/);
    expect(redisCommand).toMatch(/--maxmemory-policy, noeviction/);
  });

  it('health-checks gateways on /readyz behind HAProxy', () => {
    const haproxy = readFileSync(join(ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
    expect(haproxy).toMatch(/option httpchk GET \/readyz/);
    for (const g of ['gateway1', 'gateway2', 'gateway3']) expect(haproxy).toContain(`server ${g} ${g}:3000`);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const c = loadConfig({});
    expect(c.SLUICE_PORT).toBe(3000);
    expect(c.SLUICE_PARTITIONS).toBe(4);
    expect(c.SLUICE_ALLOW_VOLATILE_REDIS).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads "false" as false (never z.coerce.boolean)', () => {
    expect(loadConfig({ SLUICE_ALLOW_VOLATILE_REDIS: 'false' }).SLUICE_ALLOW_VOLATILE_REDIS).toBe(false);
    expect(loadConfig({ SLUICE_ALLOW_VOLATILE_REDIS: 'true' }).SLUICE_ALLOW_VOLATILE_REDIS).toBe(true);
  });

  it('lists every bad key at once, without echoing values', () => {
    let err: unknown;
    try {
      loadConfig({ SLUICE_PORT: 'eighty', SLUICE_PARTITIONS: '-1', SLUICE_ALLOW_VOLATILE_REDIS: 'yes', SLUICE_API_KEYS: 'not json secret-value' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const key of ['SLUICE_PORT', 'SLUICE_PARTITIONS', 'SLUICE_ALLOW_VOLATILE_REDIS', 'SLUICE_API_KEYS']) expect(problems).toContain(key);
    expect(problems).not.toContain('secret-value');
  });

  it('parses lists and API keys', () => {
    const c = loadConfig({ SLUICE_TABLES: 'events, billing.invoices', SLUICE_API_KEYS: '[{"key":"k-123456789-0123456789abcdef0123456789","scopes":["write:events","admin"]}]', SLUICE_HMAC_SECRET: 'x'.repeat(32) });
    expect(c.SLUICE_TABLES).toEqual(['events', 'billing.invoices']);
    expect(c.SLUICE_API_KEYS?.[0]?.scopes).toEqual(['write:events', 'admin']);
  });

  it('rejects malformed scopes and short keys', () => {
    expect(() => loadConfig({ SLUICE_API_KEYS: '[{"key":"short","scopes":["write:events"]}]' })).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_API_KEYS: '[{"key":"k-123456789","scopes":["write:ev;ents"]}]' })).toThrow(ConfigError);
  });

  it('checks rules between knobs before anything connects, listing every broken one', () => {
    let err: unknown;
    try {
      loadConfig({ SLUICE_LEASE_TTL_MS: '1000', SLUICE_LEASE_RENEW_MS: '600', SLUICE_CACHE_TTL_S: '10', SLUICE_CACHE_SOFT_TTL_S: '20' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const key of ['SLUICE_LEASE_RENEW_MS', 'SLUICE_CACHE_SOFT_TTL_S']) expect(problems).toContain(key);
    expect(loadConfig({ SLUICE_LEASE_TTL_MS: '1000', SLUICE_LEASE_RENEW_MS: '500' }).SLUICE_LEASE_RENEW_MS).toBe(500);
  });

  it('refuses fail points outside tests', () => {
    expect(() => loadConfig({ SLUICE_FAILPOINTS: 'after-commit' })).toThrow(/test-only/);
    expect(loadConfig({ SLUICE_FAILPOINTS: 'after-commit=100', NODE_ENV: 'test' }).SLUICE_FAILPOINTS).toEqual(['after-commit=100']);
  });
});

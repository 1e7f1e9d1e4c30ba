import { configSchema, type Config } from './schema.ts';

export { configSchema, configKeys, type Config, type ApiKeyConfig } from './schema.ts';

/** Raised when env fails validation; `problems` lists every bad key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * Parse the process environment once. Pure: no I/O, no `process.env` read here.
 * Values are never echoed back (some are secrets); only key names and rules.
 */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(problems);
  }
  const cfg = parsed.data;
  const problems = crossChecks(cfg);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(cfg);
}

/** SLUICE_SHARDS, SLUICE_SHARD_MAP and SLUICE_SHARD_KEYS agree with each other. */
function shardChecks(c: Config): string[] {
  const out: string[] = [];
  const names = (c.SLUICE_SHARDS ?? []).map((s) => s.name);
  if (new Set(names).size !== names.length) out.push('SLUICE_SHARDS: shard names must be unique');
  const known = new Set(names.length > 0 ? names : ['main']);
  const ranges = c.SLUICE_SHARD_MAP;
  if (ranges !== undefined) {
    if (ranges.length === 0) out.push('SLUICE_SHARD_MAP: give at least one range');
    ranges.forEach((r, i) => {
      if (!known.has(r.shard)) out.push(`SLUICE_SHARD_MAP: range ${i} names shard "${r.shard}", which SLUICE_SHARDS does not define`);
      const last = i === ranges.length - 1;
      if (last && r.upTo !== undefined) out.push('SLUICE_SHARD_MAP: the last range has no upTo (it takes every larger key)');
      if (!last && r.upTo === undefined) out.push(`SLUICE_SHARD_MAP: range ${i} needs an upTo (only the last range is unbounded)`);
      if (i > 0 && r.upTo !== undefined && ranges[i - 1]!.upTo !== undefined && r.upTo <= ranges[i - 1]!.upTo!) out.push('SLUICE_SHARD_MAP: upTo values must increase');
    });
  }
  return out;
}

/**
 * Rules between knobs, checked here so a bad combination stops the process
 * before it opens a connection (not when the part that cares starts).
 */
function crossChecks(c: Config): string[] {
  const out: string[] = [];
  if (c.SLUICE_FAILPOINTS.length > 0 && c.NODE_ENV !== 'test') out.push('SLUICE_FAILPOINTS: fail points are test-only (set NODE_ENV=test)');
  // A lease renewed less often than twice per TTL lapses between two renewals on the first hiccup.
  if (c.SLUICE_LEASE_RENEW_MS * 2 > c.SLUICE_LEASE_TTL_MS) out.push(`SLUICE_LEASE_RENEW_MS (${c.SLUICE_LEASE_RENEW_MS}) must be at most half of SLUICE_LEASE_TTL_MS (${c.SLUICE_LEASE_TTL_MS})`);
  // A retry within the TTL must still find its key in Postgres when Redis forgot it.
  if (c.SLUICE_DEDUPE_RETENTION_S < c.SLUICE_IDEMPOTENCY_TTL_S) out.push(`SLUICE_DEDUPE_RETENTION_S (${c.SLUICE_DEDUPE_RETENTION_S}) must be at least SLUICE_IDEMPOTENCY_TTL_S (${c.SLUICE_IDEMPOTENCY_TTL_S})`);
  if (c.SLUICE_POPULARITY_MAX_KEYS < c.SLUICE_WARMER_TOP_KEYS) out.push(`SLUICE_POPULARITY_MAX_KEYS (${c.SLUICE_POPULARITY_MAX_KEYS}) must be at least SLUICE_WARMER_TOP_KEYS (${c.SLUICE_WARMER_TOP_KEYS})`);
  if (c.SLUICE_API_KEYS !== undefined && c.SLUICE_HMAC_SECRET === undefined) out.push('SLUICE_HMAC_SECRET: required when SLUICE_API_KEYS is set (at least 32 characters, the same on every gateway)');
  out.push(...shardChecks(c));
  if (c.SLUICE_CACHE_SOFT_TTL_S > c.SLUICE_CACHE_TTL_S) out.push(`SLUICE_CACHE_SOFT_TTL_S (${c.SLUICE_CACHE_SOFT_TTL_S}) must not exceed SLUICE_CACHE_TTL_S (${c.SLUICE_CACHE_TTL_S})`);
  return out;
}

/**
 * Where the gateway listens: SLUICE_HOST when set; otherwise every interface
 * only with auth on. With auth off (SLUICE_API_KEYS unset) anyone who can
 * connect may write, read and use the admin API, so only this machine can.
 */
export function gatewayHostOf(c: Readonly<Config>): string {
  return c.SLUICE_HOST ?? (c.SLUICE_API_KEYS === undefined ? '127.0.0.1' : '0.0.0.0');
}

/** Where a writer's or warmer's /metrics listens (no auth there): SLUICE_HOST when set, else this machine only. */
export function metricsHostOf(c: Readonly<Config>): string {
  return c.SLUICE_HOST ?? '127.0.0.1';
}

/** The HMAC key of owner tags and key ids; with auth off a public one (every caller may read everything then anyway). */
export function hmacSecretOf(c: Readonly<Config>): string {
  return c.SLUICE_HMAC_SECRET ?? 'sluice: auth is off (SLUICE_API_KEYS unset)';
}

/** For `main.ts`: print every problem and exit before any connection is opened. */
export function loadConfigOrExit(env: Record<string, string | undefined>): Readonly<Config> {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

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
  if (cfg.SLUICE_FAILPOINTS.length > 0 && cfg.NODE_ENV !== 'test') {
    throw new ConfigError(['SLUICE_FAILPOINTS: fail points are test-only (set NODE_ENV=test)']);
  }
  return Object.freeze(cfg);
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

import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths never logged. Secrets (API keys, URLs with passwords), and row data:
 * Postgres puts the failing row in a DatabaseError's DETAIL ("Failing row
 * contains (…)", "Key (email)=(…) already exists"), its WHERE and internal
 * query; pino's error serializer would copy them all. The SQLSTATE, the
 * constraint and the column stay (the dead letter keeps the detail, behind
 * the admin scope).
 */
export const REDACTED_PATHS: readonly string[] = [
  '*.password', '*.authorization', 'req.headers.authorization', '*.apiKey', '*.key',
  'err.detail', 'err.where', 'err.internalQuery', 'err.cause.detail', 'err.cause.where', 'err.cause.internalQuery', '*.err.detail',
];

/** One JSON logger per process (to stdout, or `destination`: tests). */
export function createLogger(name: string, level: string, destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * A logger whose start/stop lines print at info even when SLUICE_LOG_LEVEL is
 * warn or error: supervisors, `pnpm dev`, the bench and the tests wait for
 * "gateway listening", "writer started", "warmer started". Only `silent` hides them.
 */
export function lifecycleLogger(log: Logger): Logger {
  return log.isLevelEnabled('info') || log.level === 'silent' ? log : log.child({}, { level: 'info' });
}

/**
 * A gate that opens at most once per `ms`: for messages a broken dependency
 * would otherwise log on every reconnect attempt or every request.
 */
export function oncePer(ms: number): () => boolean {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const now = Date.now();
    if (now - last < ms) return false;
    last = now;
    return true;
  };
}

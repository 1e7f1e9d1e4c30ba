import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** One JSON logger per process. Secrets (API keys, URLs with passwords) are redacted by path. */
export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['*.password', '*.authorization', 'req.headers.authorization', '*.apiKey', '*.key'], censor: '[redacted]' },
  });
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

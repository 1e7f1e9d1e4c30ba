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

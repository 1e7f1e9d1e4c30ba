// `pnpm start:writer`: one writer process. Config once, signals here only.
import { loadConfigOrExit } from '@sluice/shared/config/index.ts';
import { onShutdownSignals } from '@sluice/shared/lifecycle/signals.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { startWriter } from './writer.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('sluice-writer', config.SLUICE_LOG_LEVEL);

process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection');
  process.exit(1);
});

const started = startWriter(config, { log });
// Registered before the writer is up, so a SIGTERM during start still drains.
// First signal: stop taking jobs, commit open batches, close workers, then
// Redis and Postgres (LIFO). Second signal, or a drain past the bound: exit now.
onShutdownSignals(log, async () => (await started).stop(), Math.max(30_000, 3 * config.SLUICE_LOCK_DURATION_MS));

try {
  await started;
} catch (err) {
  log.fatal({ err }, 'writer failed to start');
  process.exit(1);
}

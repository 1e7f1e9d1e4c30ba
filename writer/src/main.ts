// `pnpm start:writer`: one writer process. Config once, connections once, signals here only.
import { loadConfigOrExit } from '@sluice/shared/config/index.ts';
import { Releasers } from '@sluice/shared/lifecycle/releasers.ts';
import { onShutdownSignals, startSettled } from '@sluice/shared/lifecycle/signals.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { redisFactoryOf, topologyOf } from '@sluice/shared/topology/from-config.ts';
import { startWriter, type Writer } from './writer.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('sluice-writer', config.SLUICE_LOG_LEVEL);
const releasers = new Releasers();

process.on('unhandledRejection', (err) => {
  log.fatal({ err }, 'unhandled rejection');
  process.exit(1);
});

async function start(): Promise<Writer> {
  const redis = redisFactoryOf(config, log);
  releasers.add('redis connections', () => redis.close());
  const topology = topologyOf(config, log, 'sluice-writer');
  releasers.add('topology', () => topology.close());
  await topology.start();
  const writer = await startWriter(config, { log, topology, redis });
  // First signal: stop taking jobs, commit open batches, release partitions, then the connections (LIFO).
  releasers.add('writer', () => writer.stop());
  return writer;
}

const forceAfterMs = Math.max(30_000, 3 * config.SLUICE_LOCK_DURATION_MS);
let starting: Promise<Writer> | undefined;

// Registered before the writer is up, so a SIGTERM during start still drains: the start finishes
// first (bounded), then the writer stops and releases its partitions like a started one.
// Second signal, or a drain past the bound: exit now.
// A step that failed (a drain that overran: DrainTimeoutError) makes the exit code 1.
onShutdownSignals(
  log,
  async () => {
    await startSettled(starting, forceAfterMs / 3);
    const errors = await releasers.releaseAll((name, err) => log.warn({ err, name }, 'close step failed'));
    if (errors.length > 0) throw errors[0];
  },
  forceAfterMs,
);

try {
  starting = start();
  await starting;
} catch (err) {
  log.fatal({ err }, 'writer failed to start');
  await releasers.releaseAll();
  process.exit(1);
}

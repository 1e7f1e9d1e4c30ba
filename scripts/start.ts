/**
 * `pnpm start`: production, one host, from the compiled output (`pnpm build`;
 * this file runs as scripts/dist/start.js). Applies migrations to every
 * shard (DATABASE_URL, or each of SLUICE_SHARDS), then runs one gateway, one writer and the cache warmer as
 * child processes, each `node --conditions=sluice-dist <package>/dist/….js`
 * (no tsx, production dependencies only). SIGTERM/SIGINT are
 * forwarded once to each (a second, later signal is forwarded too: the
 * services treat it as "exit now"). If one service dies, the other is stopped
 * and we exit non-zero so the supervisor restarts the pair.
 *
 * Under systemd use KillMode=mixed: the default (control-group) signals the
 * children directly as well, and they would see two signals.
 */
import { createLogger } from '@sluice/shared/log/index.ts';
import { loadConfigOrExit } from '@sluice/shared/config/index.ts';
import { migrateShards } from '@sluice/shared/migrations/shards.ts';
import { onSignals, spawnService, type Service } from './lib/services.ts';

const config = loadConfigOrExit(process.env);
const log = createLogger('sluice-start', config.SLUICE_LOG_LEVEL);

try {
  await migrateShards(config, log);
} catch (err) {
  log.fatal({ err }, 'migrations failed; not starting');
  process.exit(1);
}

const services: Service[] = [
  spawnService('writer', 'writer/dist/main.js', { env: process.env }),
  spawnService('gateway', 'gateway/dist/main.js', { env: process.env }),
  spawnService('warmer', 'writer/dist/warmer/main.js', { env: process.env }),
];
let stopping = false;
let died = false;

const [writer, gateway, warmer] = services as [Service, Service, Service];
onSignals((signal, first) => {
  stopping = true;
  if (first) {
    // Gateway first (stop accepting, finish in-flight requests), then the
    // writer (commit its open batch, release partitions).
    log.info({ signal }, 'stopping gateway, then writer and warmer');
    gateway.signal(signal);
    void gateway.exited.then(() => {
      writer.signal(signal);
      warmer.signal(signal);
    });
  } else {
    log.warn({ signal }, 'second signal: forwarding to both');
    for (const s of services) s.signal(signal);
  }
});

for (const s of services) {
  void s.exited.then((code) => {
    if (stopping) return;
    stopping = true;
    died = true;
    log.error({ service: s.name, code }, 'service exited; stopping the other');
    for (const other of services) if (other !== s) void other.stop();
  });
}

const codes = await Promise.all(services.map((s) => s.exited));
// A clean drain on request exits 0; a service that died on its own, a crash or a forced stop is a failure.
const failed = died || codes.some((c) => c !== 0);
log.info({ codes: Object.fromEntries(services.map((s, i) => [s.name, codes[i]])) }, 'stopped');
process.exit(failed ? 1 : 0);

/**
 * `pnpm bench [write|soak|poison|read|client] [--duration S] [--connections N] [--drain N] [--partitions N] [--linger MS]`
 * soak: `[--minutes M] [--clients N]`; poison: `[--writes N]`;
 * read: `[--zipf-duration S] [--only baselines,sluice,zipf,stampede]`;
 * client: `[--writes N] [--callers N] [--ack queued|committed]`.
 * Benchmarks are not tests: they print tables and write JSON to bench/results/.
 */
import { runClientBench } from './client/index.ts';
import { runPoisonBench } from './poison/index.ts';
import { runReadBench } from './read/index.ts';
import { runSoak } from './soak/index.ts';
import { runWriteBench } from './write/index.ts';

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const onlyValue = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const ackValue = process.argv.includes('--ack') ? process.argv[process.argv.indexOf('--ack') + 1] : undefined;
const mode = process.argv.slice(2).find((a) => !a.startsWith('--') && !/^\d+$/.test(a) && a !== onlyValue && a !== ackValue) ?? 'write';
switch (mode) {
  case 'write':
    await runWriteBench({ durationS: flag('duration', 20), connections: flag('connections', 100), drainWrites: flag('drain', 200_000), partitions: flag('partitions', 4), ...(process.argv.includes('--linger') ? { batchLingerMs: flag('linger', 5) } : {}) });
    break;
  case 'read':
    await runReadBench({ durationS: flag('duration', 15), connections: flag('connections', 50), zipfS: flag('zipf-duration', 300), only: onlyValue?.split(',') ?? [] });
    break;
  case 'soak':
    await runSoak({ minutes: flag('minutes', 10), clients: flag('clients', 24), killEveryS: flag('kill-every', 30) });
    break;
  case 'poison':
    await runPoisonBench({ writes: flag('writes', 100_000), partitions: flag('partitions', 4) });
    break;
  case 'client':
    await runClientBench({ writes: flag('writes', 10_000), callers: flag('callers', 200), ack: ackValue === 'committed' ? 'committed' : 'queued' });
    break;
  default:
    process.stderr.write(`unknown bench mode "${mode}" (write, soak, poison, read, client)\n`);
    process.exit(2);
}

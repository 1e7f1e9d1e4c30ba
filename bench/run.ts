/**
 * `pnpm bench [write|soak|read] [--duration S] [--connections N] [--drain N] [--partitions N]`
 * Benchmarks are not tests: they print tables and write JSON to bench/results/.
 */
import { runWriteBench } from './write/index.ts';

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const mode = process.argv.slice(2).find((a) => !a.startsWith('--') && !/^\d+$/.test(a)) ?? 'write';
switch (mode) {
  case 'write':
    await runWriteBench({ durationS: flag('duration', 20), connections: flag('connections', 100), drainWrites: flag('drain', 200_000), partitions: flag('partitions', 4) });
    break;
  default:
    process.stderr.write(`unknown bench mode "${mode}" (write)\n`);
    process.exit(2);
}

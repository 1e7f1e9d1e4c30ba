/**
 * `pnpm bench [write|read|soak|poison|loadgen|client|shards|flush|log|flags] [flags]` — see the README's
 * Benchmarks section for what each measures and its flags.
 * Benchmarks are not tests: they print tables and write JSON to bench/results/.
 */
import { runRedisClusterBench } from './redis-cluster/index.ts';
import { runClientBench } from './client/index.ts';
import { runFlagsBench } from './flags/index.ts';
import { runFlushBench } from './flush/index.ts';
import { runLoadgenBench } from './loadgen/index.ts';
import { runLogBench } from './log/index.ts';
import { runPoisonBench } from './poison/index.ts';
import { runReadBench } from './read/index.ts';
import { runShardsBench } from './shards/index.ts';
import { runSoak } from './soak/index.ts';
import { runViewsBench } from './views/index.ts';
import { runWriteBench } from './write/index.ts';

const args = process.argv.slice(2);
const VALUED = new Set(['duration', 'connections', 'drain', 'partitions', 'linger', 'zipf-duration', 'only', 'minutes', 'clients', 'kill-every', 'writes', 'callers', 'ack', 'move-rows', 'moves', 'rows', 'users', 'rounds', 'round-rows', 'jobs', 'batch', 'changes', 'group-commit', 'adaptive-linger', 'retention']);

function value(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
function num(name: string, def: number): number;
function num(name: string): number | undefined;
function num(name: string, def?: number): number | undefined {
  const v = value(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number, got "${v}"`);
  return n;
}
const only = value('only')?.split(',').filter(Boolean) ?? [];
/** `--group-commit off,on` (`--adaptive-linger off,on`): each Sluice write scenario once per setting of SLUICE_GROUP_COMMIT (SLUICE_ADAPTIVE_LINGER), back to back. */
function onOffValues(flag: string): ('on' | 'off')[] | undefined {
  const v = value(flag);
  if (v === undefined) return undefined;
  const list = v.split(',').filter(Boolean);
  if (list.length === 0 || list.some((x) => x !== 'on' && x !== 'off')) throw new Error(`--${flag} takes on, off or both (off,on), got "${v}"`);
  return list as ('on' | 'off')[];
}
const profile = args.includes('--profile');
// The mode is the first word that is neither a flag nor a flag's value.
const mode = args.find((a, i) => !a.startsWith('--') && !(i > 0 && VALUED.has(args[i - 1]!.slice(2)))) ?? 'write';

switch (mode) {
  case 'write':
    await runWriteBench({ durationS: num('duration', 20), connections: num('connections', 100), drainWrites: num('drain', 200_000), partitions: num('partitions'), batchLingerMs: num('linger'), only, profile, replica: args.includes('--replica'), groupCommit: onOffValues('group-commit'), adaptiveLinger: onOffValues('adaptive-linger'), retentionRows: num('retention') });
    break;
  case 'read':
    await runReadBench({ durationS: num('duration', 15), connections: num('connections', 100), zipfS: num('zipf-duration', 300), only, profile });
    break;
  case 'flush':
    await runFlushBench({ rows: (value('rows') ?? '30,200,1000').split(',').map(Number).filter((n) => n > 0), rowsPerRound: num('round-rows', 20_000), rounds: num('rounds', 5) });
    break;
  case 'log':
    await runLogBench({ jobs: num('jobs', 5000), batch: num('batch', 20), rounds: num('rounds', 5) });
    break;
  case 'loadgen':
    await runLoadgenBench({ durationS: num('duration', 10), connections: num('connections', 100) });
    break;
  case 'soak':
    await runSoak({ minutes: num('minutes', 10), clients: num('clients', 24), killEveryS: num('kill-every', 30) });
    break;
  case 'poison':
    await runPoisonBench({ writes: num('writes', 100_000), partitions: num('partitions', 4) });
    break;
  case 'client':
    await runClientBench({ writes: num('writes', 10_000), callers: num('callers', 200), ack: value('ack') === 'committed' ? 'committed' : 'queued' });
    break;
  case 'shards':
    await runShardsBench({ durationS: num('duration', 15), connections: num('connections', 100), moveRows: num('move-rows', 100_000), moves: num('moves', 5) });
    break;
  case 'views':
    await runViewsBench({ rows: num('rows', 100_000), users: num('users', 10_000), partitions: num('partitions', 4), hotBatches: num('hot-batches', 60), rounds: num('rounds', 3), statements: args.includes('--statements') });
    break;
  case 'flags':
    await runFlagsBench({ durationS: num('duration', 10), connections: num('connections', 50), changes: num('changes', 1000) });
    break;
  case 'rediscluster':
    await runRedisClusterBench({ durationS: num('duration', 15), connections: num('connections', 50), only, profile });
    break;
  default:
    process.stderr.write(`unknown bench mode "${mode}" (write, read, loadgen, soak, poison, client, shards, views, flush, log, rediscluster, flags)\n`);
    process.exit(2);
}

/**
 * `pnpm sluice status [--json]`: GET /v1/admin/status (admin scope) as a
 * terminal page: backlog against its limits, partitions (owner, backlog in
 * jobs / writes / bytes, oldest job), writers, replicas and lag, dead letters,
 * write and read rates.
 */
import { call, gatewayOf } from './http.ts';

export const STATUS_USAGE = 'usage: sluice status [--url URL] [--api-key KEY] [--json]';

interface Part {
  partition: string;
  owner: string | null;
  paused: boolean;
  consumable: boolean;
  backlog: number;
  writes: number;
  bytes: number;
  oldestJobAgeMs: number | null;
}

/** What the status page reads of the answer. */
export interface AdminStatus {
  at: string;
  backlog: { jobs: number; writes: number; bytes: number; oldestJobAgeMs: number | null; limits: { jobs: number; writes: number; bytes: number } };
  partitions: Part[];
  writers: { id: string; partitions: string[] }[];
  replicas: unknown;
  deadLetters: number | null;
  rates: { writesPerSec: number; readsPerSec: number };
}

const size = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : b >= 1 << 10 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
const age = (ms: number | null) => (ms === null ? '-' : ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`);
const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;

/** The page, as text. */
export function formatStatus(s: AdminStatus): string {
  const b = s.backlog;
  const lines = [
    `sluice status at ${s.at}`,
    `backlog   ${b.jobs} jobs (${pct(b.jobs, b.limits.jobs)} of limit), ${b.writes} writes (${pct(b.writes, b.limits.writes)}), ${size(b.bytes)} (${pct(b.bytes, b.limits.bytes)}); oldest job ${age(b.oldestJobAgeMs)}`,
    `rates     ${s.rates.writesPerSec.toFixed(1)} writes/s, ${s.rates.readsPerSec.toFixed(1)} reads/s (this gateway, last 10 s)`,
    `dead      ${s.deadLetters ?? 'unknown (Postgres did not answer)'} dead letters pending`,
    '',
    'PARTITION        OWNER                          JOBS    WRITES  BYTES       OLDEST     STATE',
  ];
  for (const p of s.partitions) {
    const state = p.paused ? 'paused' : p.consumable ? 'consumed' : 'waiting for older epoch';
    lines.push(`${p.partition.padEnd(16)} ${(p.owner ?? '(none)').padEnd(30)} ${String(p.backlog).padStart(6)} ${String(p.writes).padStart(8)}  ${size(p.bytes).padEnd(10)}  ${age(p.oldestJobAgeMs).padEnd(9)}  ${state}`);
  }
  lines.push('', `writers   ${s.writers.length === 0 ? '(none alive)' : s.writers.map((w) => `${w.id} (${w.partitions.length})`).join(', ')}`);
  lines.push(`replicas  ${JSON.stringify(s.replicas)}`);
  return `${lines.join('\n')}\n`;
}

/** Run `sluice status`. */
export async function statusCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const s = await call<AdminStatus>(gatewayOf(args), 'GET', '/v1/admin/status');
  out.write(args.includes('--json') ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  return 0;
}

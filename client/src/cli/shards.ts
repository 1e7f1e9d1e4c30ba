/**
 * `pnpm sluice shards` over the admin API (scope `admin`):
 *
 *   sluice shards                          shards (primary, replicas, backlog), key ranges, the move under way
 *   sluice shards moves                    the moves, newest first
 *   sluice shards move FROM TO SHARD       move keys [FROM, TO) to SHARD and follow it to the end
 *                                          (`-` for an unbounded side; --no-wait to return at once)
 *   sluice shards cancel ID                cancel a move that has not started its cutover
 */
import { call, gatewayOf, positional } from './http.ts';

interface Move {
  id: number;
  from: number | null;
  to: number | null;
  source: string;
  shard: string;
  state: string;
  step: string | null;
  rowsCopied: number;
  rowsLogged: number;
  rowsDeleted: number;
  pauseMs: number | null;
  error: string | null;
}

interface Shards {
  version: number;
  shardKeys: Record<string, string>;
  ranges: { upTo?: number; shard: string }[];
  shards: { name: string; primary: { ok: boolean; standby?: boolean; pingMs?: number; error?: string }; replicas: { name: string; state: string; lagMs: number }[]; partitions: number; backlog: number | null }[];
  activeMove: Move | null;
}

export const SHARDS_USAGE = 'usage: sluice shards [moves | move FROM TO SHARD [--no-wait] | cancel ID] [--url URL] [--api-key KEY]\n';

const bound = (v: number | null, side: 'lo' | 'hi') => (v === null ? (side === 'lo' ? '-∞' : '∞') : String(v));
const range = (m: Pick<Move, 'from' | 'to'>) => `[${bound(m.from, 'lo')}, ${bound(m.to, 'hi')})`;

function describe(m: Move): string {
  const extra = [`copied ${m.rowsCopied}`, `logged ${m.rowsLogged}`];
  if (m.rowsDeleted > 0) extra.push(`deleted ${m.rowsDeleted}`);
  if (m.pauseMs !== null) extra.push(`pause ${m.pauseMs} ms`);
  if (m.error) extra.push(`error: ${m.error}`);
  return `move ${m.id} ${range(m)} ${m.source} → ${m.shard}: ${m.state}${m.step ? ` (${m.step.split(':')[0]})` : ''}; ${extra.join(', ')}`;
}

function printShards(s: Shards, out: NodeJS.WritableStream): void {
  out.write(`shard map version ${s.version}; sharded: ${Object.entries(s.shardKeys).map(([t, c]) => `${t}.${c}`).join(', ') || '(none)'}\n\n`);
  for (const x of s.shards) {
    const primary = x.primary.ok ? `primary ok (${x.primary.pingMs} ms)` : `primary DOWN${x.primary.standby ? ' (a standby!)' : ''}: ${x.primary.error ?? ''}`;
    const replicas = x.replicas.length === 0 ? 'no replicas' : x.replicas.map((r) => `${r.name} ${r.state} ${Math.round(r.lagMs)} ms`).join(', ');
    out.write(`${x.name.padEnd(8)} ${primary}; ${replicas}; ${x.partitions} partitions, backlog ${x.backlog ?? '?'}\n`);
  }
  out.write('\nranges:\n');
  let lo: number | null = null;
  for (const r of s.ranges) {
    out.write(`  ${range({ from: lo, to: r.upTo ?? null }).padEnd(28)} ${r.shard}\n`);
    lo = r.upTo ?? null;
  }
  if (s.activeMove) out.write(`\n${describe(s.activeMove)}\n`);
}

const parseBound = (v: string | undefined, name: string): number | null => {
  if (v === '-') return null;
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n)) throw new Error(`${name} must be an integer or "-" (unbounded)\n${SHARDS_USAGE}`);
  return n;
};

/** Run `sluice shards …`; resolves with the exit code. */
export async function shardsCommand(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const g = gatewayOf(args);
  const [, sub, ...rest] = positional(args, ['url', 'api-key']);
  if (sub === undefined) {
    printShards(await call<Shards>(g, 'GET', '/v1/admin/shards'), out);
    return 0;
  }
  if (sub === 'moves') {
    const { moves } = await call<{ moves: Move[] }>(g, 'GET', '/v1/admin/shards/moves');
    for (const m of moves) out.write(`${describe(m)}\n`);
    if (moves.length === 0) out.write('no moves yet\n');
    return 0;
  }
  if (sub === 'cancel') {
    const m = await call<Move>(g, 'DELETE', `/v1/admin/shards/moves/${encodeURIComponent(rest[0] ?? '')}`);
    out.write(`${describe(m)}\n`);
    return 0;
  }
  if (sub === 'move') {
    const [from, to, shard] = rest;
    if (shard === undefined) throw new Error(SHARDS_USAGE);
    let m = await call<Move>(g, 'POST', '/v1/admin/shards/moves', { from: parseBound(from, 'FROM'), to: parseBound(to, 'TO'), shard });
    out.write(`${describe(m)}\n`);
    if (args.includes('--no-wait')) return 0;
    let last = `${m.state}:${m.step}`;
    while (!['done', 'failed', 'cancelled'].includes(m.state)) {
      await new Promise((r) => setTimeout(r, 500));
      m = await call<Move>(g, 'GET', `/v1/admin/shards/moves/${m.id}`);
      const now = `${m.state}:${m.step}`;
      if (now !== last) out.write(`${describe(m)}\n`);
      last = now;
    }
    return m.state === 'done' ? 0 : 1;
  }
  throw new Error(SHARDS_USAGE);
}

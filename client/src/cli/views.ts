/**
 * `pnpm sluice views` over the admin API (scope `admin`):
 *
 *   sluice views                 every read model on every shard: state, rows, last verify
 *   sluice views verify NAME     recompute NAME from its base table and print every differing group
 *                                (exit code 1 when any group differs)
 *   sluice views rebuild NAME    recompute NAME online from its base table and swap it in atomically
 *                                (writes keep committing; the batches committed meanwhile are in the result)
 */
import { call, gatewayOf, positional } from './http.ts';

export const VIEWS_USAGE = 'usage: sluice views [verify NAME | rebuild NAME] [--url URL] [--api-key KEY]\n';

interface ViewRow {
  shard: string;
  name: string;
  state: string;
  rowsEstimate: number | string;
  verifiedAt: string | null;
  differing: number | null;
}

interface Verify {
  view: string;
  differing: number;
  shards: { shard: string; differing: number; groups: { stored: unknown; fresh: unknown }[] }[];
}

/** Run `sluice views …`; returns the exit code. */
export async function viewsCommand(args: string[]): Promise<number> {
  const g = gatewayOf(args);
  const [, sub, name] = positional(args, ['url', 'api-key']);
  if (sub === undefined) {
    const r = await call<{ views: ViewRow[] }>(g, 'GET', '/v1/admin/views');
    for (const v of r.views) process.stdout.write(`${v.name}\t${v.shard}\t${v.state}\t~${v.rowsEstimate} groups\tverified ${v.verifiedAt ?? 'never'}${v.differing === null ? '' : ` (${v.differing} differing)`}\n`);
    return 0;
  }
  if (sub === 'verify' && name !== undefined) {
    const r = await call<Verify>(g, 'POST', `/v1/admin/views/${encodeURIComponent(name)}/verify`);
    for (const s of r.shards) {
      for (const d of s.groups) process.stdout.write(`${s.shard}\tstored ${JSON.stringify(d.stored)}\tfresh ${JSON.stringify(d.fresh)}\n`);
      if (s.differing > s.groups.length) process.stdout.write(`${s.shard}\t… ${s.differing - s.groups.length} more\n`);
    }
    process.stdout.write(`${r.view}: ${r.differing} differing group${r.differing === 1 ? '' : 's'}\n`);
    return r.differing === 0 ? 0 : 1;
  }
  if (sub === 'rebuild' && name !== undefined) {
    const r = await call<{ view: string; shards: { shard: string; rows: number; logged: number; ms: number }[] }>(g, 'POST', `/v1/admin/views/${encodeURIComponent(name)}/rebuild`, undefined, 3_600_000);
    for (const s of r.shards) process.stdout.write(`${r.view}\t${s.shard}\trebuilt: ${s.rows} groups, ${s.logged} batch deltas folded at the swap, ${s.ms} ms\n`);
    return 0;
  }
  process.stderr.write(VIEWS_USAGE);
  return 2;
}

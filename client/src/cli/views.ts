/**
 * `pnpm sluice views` over the admin API (scope `admin`):
 *
 *   sluice views                 every read model on every shard: state, rows, last verify
 *   sluice views verify NAME     recompute NAME from its base table and print every differing group
 *                                (exit code 1 when any group differs)
 *   sluice views rebuild NAME    recompute NAME online from its base table and swap it in atomically
 *                                (writes keep committing; the batches committed meanwhile are in the result).
 *                                The gateway answers 202 at once; this polls the view's status until the
 *                                rebuild is done (exit 1 when it failed or was interrupted; Ctrl-C stops
 *                                the polling, not the rebuild)
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

interface RebuildStatus {
  view: string;
  rebuild: 'running' | 'done' | 'failed' | 'interrupted' | null;
  shards: { shard: string; rowsAtBuild: number | string | null; rebuild: { status: string; phase: string | null; ms: number | null; logged: number | string | null; error: string | null } | null }[];
}

/** How often `views rebuild` asks how its rebuild is going. */
const POLL_MS = 500;

/** Start a rebuild (202) and poll its status until it ends. */
async function rebuild(g: ReturnType<typeof gatewayOf>, name: string): Promise<number> {
  const started = await call<{ location: string }>(g, 'POST', `/v1/admin/views/${encodeURIComponent(name)}/rebuild`);
  let r: RebuildStatus;
  let last = '';
  for (;;) {
    r = await call<RebuildStatus>(g, 'GET', started.location);
    if (r.rebuild !== 'running') break;
    // Each change of phase (waiting for older transactions, scanning the base table, swapping), once.
    const now = r.shards.map((s) => `${r.view}\t${s.shard}\t${s.rebuild?.phase ?? s.rebuild?.status ?? 'not started'}`).join('\n');
    if (now !== last) process.stdout.write(`${now}\n`);
    last = now;
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  for (const s of r.shards) {
    const b = s.rebuild;
    if (b?.error) process.stdout.write(`${r.view}\t${s.shard}\tfailed: ${b.error}\n`);
    else if (b?.status === 'done') process.stdout.write(`${r.view}\t${s.shard}\trebuilt: ${s.rowsAtBuild} groups, ${b?.logged} batch deltas folded at the swap, ${b?.ms} ms\n`);
    else process.stdout.write(`${r.view}\t${s.shard}\t${b?.status ?? 'not started'}${b?.phase ? ` (in phase ${b.phase})` : ''}\n`);
  }
  if (r.rebuild === 'interrupted') process.stderr.write(`the rebuild of ${r.view} was interrupted (its gateway stopped): run it again; the view stays readable meanwhile\n`);
  return r.rebuild === 'done' ? 0 : 1;
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
  if (sub === 'rebuild' && name !== undefined) return rebuild(g, name);
  process.stderr.write(VIEWS_USAGE);
  return 2;
}

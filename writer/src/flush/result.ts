import type { WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import { deadOutcome } from '../deadletters/dead-letters.ts';
import { replayOutcome } from './replay.ts';
import type { Commit } from './flush.ts';
import type { TxState } from './transaction.ts';
import type { AddressedOutcome, BatchJob, FlushResult, GroupStats, WorkItem } from './types.ts';

/**
 * What a committed batch did, for the after-commit steps: acks per request,
 * rows for the cache, counts. With `group` the transaction held other
 * partitions' batches too: only what belongs to `jobs` is taken.
 */
export function result(st: TxState, c: Commit, jobs: readonly BatchJob[], group?: GroupStats): FlushResult {
  const mine = group === undefined ? undefined : new Set(jobs);
  const ours = (item: WorkItem) => mine === undefined || mine.has(item.job);
  const acks: AddressedOutcome[] = [];
  const written: WriteThroughRow[] = [];
  let requests = 0;
  let rows = 0;
  for (const item of st.fresh) {
    if (!ours(item)) continue;
    requests++;
    if (group !== undefined && !st.dead.has(item)) for (const n of st.applied.get(item)?.n ?? []) rows += n;
    const cached = st.dead.has(item) ? undefined : st.applied.get(item)?.cache;
    if (cached) written.push(...cached);
    const node = item.req.ack;
    if (node === undefined) continue;
    const id = item.req.id;
    const rep = item.req.rep === true ? ({ rep: true } as const) : {};
    const dead = st.dead.get(item);
    const hit = st.hits.get(item);
    const applied = st.applied.get(item);
    if (dead) acks.push({ node, outcome: deadOutcome(id, dead.why), ...rep });
    else if (hit) acks.push({ node, outcome: { id, s: 'duplicate', of: hit.of, lsn: c.lsn, at: c.at }, ...rep });
    else if (applied) acks.push({ node, outcome: { id, s: 'committed', lsn: c.lsn, at: c.at, n: applied.n, ...(applied.keys ? { keys: applied.keys } : {}), ...(applied.rows ? { rows: applied.rows } : {}) }, ...rep });
  }
  for (const [item, r] of st.replays) if (ours(item)) acks.push({ node: item.req.ack!, outcome: replayOutcome(item.req.id, r, c.lsn, c.at), ...(item.req.rep === true ? { rep: true as const } : {}) });
  return {
    lsn: c.lsn,
    timeline: c.timeline,
    at: c.at,
    written,
    acks,
    stats: {
      jobs: jobs.length,
      skippedJobs: mine === undefined ? st.skipped.length : st.skipped.filter((j) => mine.has(j)).length,
      requests,
      rows: group === undefined ? st.rows : rows,
      duplicates: [...st.hits].filter(([item, h]) => !h.mismatch && ours(item)).length,
      dead: [...st.dead.values()].filter((d) => ours(d.item)).map((d) => ({ table: d.why.table ?? '', sqlstate: d.why.sqlstate })),
      bisected: st.bisected,
      ...(group === undefined ? {} : { group }),
    },
  };
}

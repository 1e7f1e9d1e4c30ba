import type { WriteThroughRow } from '@sluice/shared/read/cache/write-through.ts';
import { deadOutcome } from '../deadletters/dead-letters.ts';
import { replayOutcome } from './replay.ts';
import type { Commit } from './flush.ts';
import type { TxState } from './transaction.ts';
import type { AddressedOutcome, FlushResult } from './types.ts';

/** What a committed batch did, for the after-commit steps: acks per request, rows for the cache, counts. */
export function result(st: TxState, c: Commit, jobs: number): FlushResult {
  const acks: AddressedOutcome[] = [];
  const written: WriteThroughRow[] = [];
  for (const item of st.fresh) {
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
  for (const [item, r] of st.replays) acks.push({ node: item.req.ack!, outcome: replayOutcome(item.req.id, r, c.lsn, c.at), ...(item.req.rep === true ? { rep: true as const } : {}) });
  return {
    lsn: c.lsn,
    timeline: c.timeline,
    at: c.at,
    written,
    acks,
    stats: {
      jobs,
      skippedJobs: st.skippedJobs,
      requests: st.fresh.length,
      rows: st.rows,
      duplicates: [...st.hits.values()].filter((h) => !h.mismatch).length,
      dead: [...st.dead.values()].map((d) => ({ table: d.why.table ?? '', sqlstate: d.why.sqlstate })),
      bisected: st.bisected,
    },
  };
}

import { currentLsn, standbysBehind } from '@sluice/shared/sql/replication.ts';
import type { MoveRow } from '@sluice/shared/sql/shard-moves.ts';
import { inRange } from '@sluice/shared/topology/key-ranges.ts';
import type { MoverDeps } from './mover.ts';

/** What the mover (mover.ts) waits for before and during a cutover: the target's standbys, the barrier, writes of the range still queued. */

/**
 * Waiting jobs looked at per source partition for writes of the range: a
 * fenced-out writer hands back at most what it held (SLUICE_WRITER_CONCURRENCY,
 * 256 by default) to the head. Every job looked at is read from Redis each
 * tick of the wait, so this stays small.
 */
const PENDING_SCAN = 256;
/** How long the cutover waits for the target's standbys to replay the copy. */
const STANDBY_WAIT_MS = 10_000;
const TICK_MS = 100;

/**
 * The target's read replicas have replayed the copy: once the range is the
 * target's, a read without a token may go to one of them, and must find
 * the rows. Waited for before the pause starts; a standby that does not
 * catch up within STANDBY_WAIT_MS is left behind with a warning (the read
 * path ejects it when its lag passes SLUICE_MAX_REPLICA_LAG_MS).
 */
export async function targetStandbysCaughtUp(d: MoverDeps, m: MoveRow): Promise<boolean> {
  const target = d.topology.db(m.target);
  const lsn = await currentLsn(target);
  const deadline = Date.now() + STANDBY_WAIT_MS;
  for (;;) {
    const behind = await standbysBehind(target, lsn);
    if (behind === 0) return true;
    if (Date.now() > deadline) {
      d.log.warn({ move: m.id, behind, lsn }, 'move: standbys of the target have not replayed the copy; cutting over without them');
      return true;
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
}

/** A barrier job in every partition of the source: once all are applied, every write queued there before the switch is in. */
export async function barrierPassed(d: MoverDeps, m: MoveRow): Promise<boolean> {
  const parts = d.topology.map.live().filter((r) => r.shard === m.source);
  const ids = parts.map((r) => `${r.name}.move${m.id}.0`);
  const { rows } = await d.topology.db(m.source).query<{ n: string }>('SELECT count(*) AS n FROM sluice.applied_jobs WHERE job_id = ANY($1::text[])', [ids]);
  if (Number(rows[0]!.n) === ids.length) return true;
  // Appending again is harmless: a job id already queued is not added twice, one already applied is skipped.
  await Promise.all(parts.map((r, i) => d.logs.get(r).append([{ id: ids[i]!, data: { v: 1, reqs: [] } }])));
  return false;
}

/**
 * Writes of the range still waiting in the source's partitions. Past the
 * barrier there are none, but for a batch a fenced-out writer had taken
 * before it and hands back to the head of its log after the new owner
 * applied the barrier: it must commit (and be logged) before the range is
 * verified. Looks at the jobs held and the head of each log (where handed
 * back jobs go).
 */
export async function pendingRangeWrites(d: MoverDeps, m: MoveRow): Promise<number> {
  const parts = d.topology.map.live().filter((r) => r.shard === m.source);
  const heads = await Promise.all(parts.map((r) => d.logs.get(r).head(PENDING_SCAN)));
  let n = 0;
  for (const job of heads.flat()) {
    for (const req of job.data?.reqs ?? []) {
      for (const op of req.ops) {
        const v = d.router.valueOf(op);
        if (typeof v === 'number' && inRange(v, m.lo, m.hi)) n++;
      }
    }
  }
  if (n > 0) d.log.info({ move: m.id, writes: n }, 'move: writes of the range still queued on the source (handed back by a fenced-out writer); waiting for them');
  return n;
}

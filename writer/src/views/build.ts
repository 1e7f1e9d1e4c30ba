import type { Pool, PoolClient } from '@sluice/shared/db/pool.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { exclusiveLockSql, settle, type MaintainedView } from './maintainer.ts';

/**
 * Create and backfill a view online, on one shard (run by every writer at
 * start; an advisory lock makes one of them do it, the others find it ready):
 *
 * 1. create the storage and the `sluice.views` row in state `building`, in
 *    one transaction. From then on every batch that touches the table logs its
 *    delta (maintainer.ts), tagged with its transaction id;
 * 2. wait until every transaction that was running at that commit has ended:
 *    a batch that read the views' states before the row existed has then
 *    committed or rolled back, so it is inside the next snapshot;
 * 3. in one REPEATABLE READ transaction: its snapshot S, the view computed
 *    from the base table as S sees it (writes go on meanwhile, into the log);
 * 4. switch: take the view's exclusive advisory lock (batches of this table
 *    wait for it, for the length of this short transaction only), fold the
 *    logged deltas S cannot see, recompute min/max where a fold made them
 *    stale, empty the log, state `ready`.
 *
 * A crash anywhere leaves state `building` and the log filling: the next
 * start redoes 3 and 4 (step 3 empties the table first).
 */

const BUILD_LOCK = 7_240_015;

export interface BuildResult {
  name: string;
  state: 'ready' | 'built';
  rows: number;
  /** Deltas folded from the log at the switch. */
  logged: number;
}

/** Make sure `v` exists and is ready on the database of `pool`. */
export async function ensureView(pool: Pool, v: MaintainedView, log: Logger): Promise<BuildResult> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [BUILD_LOCK, v.lock]);
    try {
      const found = await client.query<{ state: string; definition: string }>('SELECT state, definition FROM sluice.views WHERE name = $1', [v.bound.name]);
      const row = found.rows[0];
      if (row !== undefined && row.definition.trim() !== v.bound.spec.sql.trim()) {
        throw new Error(`view ${v.bound.name}: ${v.bound.spec.file} differs from the definition it was built from; drop it (DROP TABLE sluice_views."${v.bound.name}__data" CASCADE; DELETE FROM sluice.views WHERE name = '${v.bound.name}') to rebuild`);
      }
      if (row?.state === 'ready') return { name: v.bound.name, state: 'ready', rows: -1, logged: 0 };
      if (row === undefined) await create(client, v);
      await waitForOlderTransactions(client);
      const snapshot = await backfill(client, v);
      const r = await switchToReady(client, v, snapshot);
      log.info({ view: v.bound.name, rows: r.rows, logged: r.logged }, 'view built');
      return r;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [BUILD_LOCK, v.lock]).catch(() => {});
    }
  } finally {
    client.release();
  }
}

async function create(client: PoolClient, v: MaintainedView): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(v.sql.create);
    await client.query(`INSERT INTO sluice.views (name, definition, state) VALUES ($1, $2, 'building') ON CONFLICT (name) DO NOTHING`, [v.bound.name, v.bound.spec.sql]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Wait until every transaction with an id at the time of the call has finished (bounded by the longest running one). */
async function waitForOlderTransactions(client: PoolClient): Promise<void> {
  const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  const xmax = rows[0]!.xmax;
  for (;;) {
    const r = await client.query<{ done: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done', [xmax]);
    if (r.rows[0]!.done) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Step 3: the view from the base table in one snapshot; returns the snapshot. */
async function backfill(client: PoolClient, v: MaintainedView): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const { rows } = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
    await client.query(`DELETE FROM ${v.bound.data}`);
    await client.query(v.sql.backfill);
    await client.query('COMMIT');
    return rows[0]!.s;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Step 4: fold what the snapshot missed, under the view's exclusive lock, and go `ready`. */
async function switchToReady(client: PoolClient, v: MaintainedView, snapshot: string): Promise<BuildResult> {
  await client.query('BEGIN');
  try {
    await client.query(exclusiveLockSql(v));
    const logged = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${v.bound.log}`);
    const folded = await client.query<Record<string, unknown>>(v.sql.foldLog, [snapshot]);
    await settle(client, v, folded.rows);
    await client.query(`DELETE FROM ${v.bound.log}`);
    const n = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${v.bound.data}`);
    await client.query(`UPDATE sluice.views SET state = 'ready', rows = $2, ready_at = now() WHERE name = $1`, [v.bound.name, n.rows[0]!.n]);
    await client.query('COMMIT');
    return { name: v.bound.name, state: 'built', rows: Number(n.rows[0]!.n), logged: Number(logged.rows[0]!.n) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export { verifyView } from '@sluice/shared/views/verify.ts';

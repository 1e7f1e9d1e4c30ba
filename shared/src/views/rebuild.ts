import { longQuery, type Pool, type PoolClient } from '../db/pool.ts';
import type { BoundView } from './bind.ts';
import { exclusiveLockSql, inTransaction, waitForOlderTransactions, withBuildLock } from './locks.ts';
import { settle } from './settle.ts';
import { rebuildStatements } from './sql.ts';

/**
 * `rebuild`: recompute a ready view from its base table, online, and swap the
 * result in atomically. Reads keep getting the live table until the swap;
 * writes keep committing (and keep folding into the live table) throughout:
 *
 * 1. state `rebuilding` and an empty `<name>__next`, in one transaction. From
 *    then on every batch that touches the view folds into the live table as
 *    usual AND logs its delta, tagged with its transaction id (maintainer.ts);
 * 2. wait for every transaction older than that commit (a batch that read
 *    state `ready` has ended, so it is in the next snapshot);
 * 3. one REPEATABLE READ snapshot S fills `__next` from the base table;
 * 4. switch, under the view's exclusive lock (batches of the table wait for
 *    this short transaction only): fold into `__next` the logged deltas S
 *    cannot see, recompute its stale min/max, drop its emptied groups, swap
 *    the tables (renames: no copy), empty the log, state `ready`.
 *
 * The same technique as the first build (writer/src/views/build.ts), with the
 * live table kept in service. A crash leaves state `rebuilding`: the next
 * writer start, or the next rebuild, starts again at step 1 (the log only
 * grows meanwhile; the switch empties it).
 */

/** What a rebuild did on one database. */
export interface RebuildResult {
  rows: number;
  /** Deltas folded from the log at the switch. */
  logged: number;
}

/** Rebuild `v` on the database of `pool` (the view must exist: state ready or rebuilding). */
export async function rebuildView(pool: Pool, v: BoundView): Promise<RebuildResult> {
  const client = await pool.connect();
  try {
    return await withBuildLock(client, v.name, () => rebuildHeld(client, v));
  } finally {
    client.release();
  }
}

/** The rebuild with the build lock held on `client` (the writer's start resumes an interrupted one through this). */
export async function rebuildHeld(client: PoolClient, v: BoundView): Promise<RebuildResult> {
  const sql = rebuildStatements(v);
  const { rows } = await client.query<{ state: string }>('SELECT state FROM sluice.views WHERE name = $1', [v.name]);
  const state = rows[0]?.state;
  if (state !== 'ready' && state !== 'rebuilding') throw new ViewNotReadyError(v.name, state ?? 'absent');
  await inTransaction(client, async () => {
    await client.query(sql.create);
    await client.query(`UPDATE sluice.views SET state = 'rebuilding', rebuild_phase = 'waiting' WHERE name = $1`, [v.name]);
  });
  await waitForOlderTransactions(client);
  await phase(client, v, 'scanning');
  const snapshot = await inTransaction(
    client,
    async () => {
      const s = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
      // A full scan of the base table: SLUICE_STATEMENT_TIMEOUT_MS is for the write path's statements, not this.
      await client.query('SET LOCAL statement_timeout = 0');
      await longQuery(client, sql.next.backfill);
      return s.rows[0]!.s;
    },
    'ISOLATION LEVEL REPEATABLE READ',
  );
  await phase(client, v, 'swapping');
  return inTransaction(client, async () => {
    await client.query(exclusiveLockSql(v.name));
    const logged = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${v.log} WHERE NOT pg_visible_in_snapshot(xid, $1::pg_snapshot)`, [snapshot]);
    const folded = await client.query<Record<string, unknown>>(sql.next.foldLog, [snapshot]);
    await settle(client, sql.next, folded.rows);
    await client.query(sql.swap);
    await client.query(`DELETE FROM ${v.log}`);
    const n = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${v.data}`);
    await client.query(
      `UPDATE sluice.views SET state = 'ready', rows = $2, ready_at = now(), rebuild_phase = NULL, rebuild_finished_at = now(), rebuild_logged = $3, rebuild_error = NULL WHERE name = $1`,
      [v.name, n.rows[0]!.n, logged.rows[0]!.n],
    );
    return { rows: Number(n.rows[0]!.n), logged: Number(logged.rows[0]!.n) };
  });
}

/** Where a rebuild is, for the operator polling it (GET /v1/admin/views/{name}); its own short transaction. */
async function phase(client: PoolClient, v: BoundView, p: 'scanning' | 'swapping'): Promise<void> {
  await client.query('UPDATE sluice.views SET rebuild_phase = $2 WHERE name = $1', [v.name, p]);
}

/** A rebuild asked of a view that is not built yet (its first build is under way). */
export class ViewNotReadyError extends Error {
  override name = 'ViewNotReadyError';
  constructor(
    readonly view: string,
    readonly state: string,
  ) {
    super(`view ${view} is ${state}: it can be rebuilt once its build has finished`);
  }
}

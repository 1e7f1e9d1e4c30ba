import { longQuery, type Pool, type PoolClient } from '@sluice/shared/db/pool.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import { exclusiveLockSql, inTransaction, waitForOlderTransactions, withBuildLock } from '@sluice/shared/views/locks.ts';
import { rebuildHeld } from '@sluice/shared/views/rebuild.ts';
import { rebuildStatements } from '@sluice/shared/views/sql.ts';
import { olderFileMessage, settle, type MaintainedView } from './maintainer.ts';

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

export interface BuildResult {
  name: string;
  state: 'ready' | 'built' | 'rebuilt';
  rows: number;
  /** Deltas folded from the log at the switch. */
  logged: number;
}

/**
 * Make sure `v` exists, is built from the file's definition, and is ready on
 * the database of `pool`. A view whose stored definition differs from the
 * file was redefined by redefineIfChanged at this writer's start (or the
 * file is older, and this is not called: wiring.ts); one left in
 * state `rebuilding` by an interrupted rebuild is rebuilt.
 */
export async function ensureView(pool: Pool, v: MaintainedView, log: Logger): Promise<BuildResult> {
  const client = await pool.connect();
  try {
    return await withBuildLock(client, v.bound.name, async () => {
      const found = await client.query<{ state: string; definition: string }>('SELECT state, definition FROM sluice.views WHERE name = $1', [v.bound.name]);
      const row = found.rows[0];
      if (row !== undefined && row.definition.trim() !== v.bound.spec.sql.trim()) {
        throw new Error(`view ${v.bound.name}: ${v.bound.spec.file} differs from the definition it was built from (another writer redefined it?)`);
      }
      if (row?.state === 'ready') return { name: v.bound.name, state: 'ready', rows: -1, logged: 0 };
      if (row?.state === 'rebuilding') {
        const r = await rebuildHeld(client, v.bound);
        log.info({ view: v.bound.name, ...r }, 'view rebuilt (an interrupted rebuild)');
        return { name: v.bound.name, state: 'rebuilt', ...r };
      }
      if (row === undefined) await create(client, v);
      await waitForOlderTransactions(client);
      const snapshot = await backfill(client, v);
      const r = await switchToReady(client, v, snapshot);
      log.info({ view: v.bound.name, rows: r.rows, logged: r.logged }, 'view built');
      return r;
    });
  } finally {
    client.release();
  }
}

/** What this writer's file is to the view's stored definition on one database (redefineIfChanged). */
export type Redefinition = 'unchanged' | 'redefined' | 'older';

/**
 * A view whose file holds a definition never seen before on this database is
 * rebuilt from the new file, automatically, at the writer's start (before it
 * consumes anything): its storage is dropped and created again in the new
 * shape, state `building`, under the view's exclusive lock (batches that read
 * the old definition commit first); then ensureView builds it online as a new
 * view. Reads answer 503 while it builds. A writer still running the old file
 * stops maintaining it (ViewRedefinedError: its batches of that table are
 * retried until it is restarted with the new file).
 *
 * Redefinition is one way: every definition a view was built from is kept in
 * `sluice.view_definitions`, and a file that holds one of them (not the
 * current one) is an older file: `older`, nothing rebuilt. Without that, an
 * old writer restarted after a newer one would rebuild the view back, the
 * newer one at its next start forward again, and so on. To go back to an
 * earlier definition on purpose, change its file (a comment is enough): it
 * is then a new definition.
 */
export async function redefineIfChanged(pool: Pool, v: MaintainedView, log: Logger): Promise<Redefinition> {
  const client = await pool.connect();
  try {
    return await withBuildLock(client, v.bound.name, async () => {
      const file = v.bound.spec.sql.trim();
      const found = await client.query<{ definition: string; seen: boolean }>(
        `SELECT definition, EXISTS (SELECT 1 FROM sluice.view_definitions d WHERE d.name = v.name AND d.hash = md5($2) AND d.definition = $2) AS seen
           FROM sluice.views v WHERE v.name = $1`,
        [v.bound.name, file],
      );
      const row = found.rows[0];
      if (row === undefined || row.definition.trim() === file) return 'unchanged';
      if (row.seen) {
        log.error({ view: v.bound.name, file: v.bound.spec.file, current: row.definition.trim() }, olderFileMessage(v.bound.name, v.bound.spec.file));
        return 'older';
      }
      await inTransaction(client, async () => {
        await client.query(exclusiveLockSql(v.bound.name));
        await client.query(`DROP TABLE IF EXISTS ${v.bound.data}, ${v.bound.log}, ${rebuildStatements(v.bound).table} CASCADE`);
        await client.query(v.sql.create);
        await client.query(`UPDATE sluice.views SET definition = $2, state = 'building', rows = NULL, ready_at = NULL, verified_at = NULL, differing = NULL WHERE name = $1`, [v.bound.name, file]);
        // The one it replaces too (a view built before the history existed has it from the migration; this is belt and braces).
        await client.query(`INSERT INTO sluice.view_definitions (name, definition) VALUES ($1, $2), ($1, $3) ON CONFLICT DO NOTHING`, [v.bound.name, row.definition.trim(), file]);
      });
      log.warn({ view: v.bound.name, file: v.bound.spec.file, was: row.definition.trim() }, 'view definition changed: rebuilding it from the new file (reads answer 503 until it is ready)');
      return 'redefined';
    });
  } finally {
    client.release();
  }
}

async function create(client: PoolClient, v: MaintainedView): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(v.sql.create);
    await client.query(`INSERT INTO sluice.views (name, definition, state) VALUES ($1, $2, 'building') ON CONFLICT (name) DO NOTHING`, [v.bound.name, v.bound.spec.sql.trim()]);
    await client.query(`INSERT INTO sluice.view_definitions (name, definition) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [v.bound.name, v.bound.spec.sql.trim()]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Step 3: the view from the base table in one snapshot; returns the snapshot. */
async function backfill(client: PoolClient, v: MaintainedView): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const { rows } = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
    await client.query(`DELETE FROM ${v.bound.data}`);
    // A full scan of the base table: SLUICE_STATEMENT_TIMEOUT_MS is for the write path's statements, not this.
    await client.query('SET LOCAL statement_timeout = 0');
    await longQuery(client, v.sql.backfill);
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
    await client.query(exclusiveLockSql(v.bound.name));
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

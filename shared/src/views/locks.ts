import type { PoolClient } from '../db/pool.ts';

/**
 * The advisory locks of read models, shared by the writers' maintainer, the
 * builder and the gateway's rebuild:
 *
 * - `(LOCK_CLASS, view)`: every batch that touches the view takes it shared
 *   (transaction scope) before it reads the view's state; a builder's switch
 *   (and a redefinition) takes it exclusive, so it waits for the batches that
 *   read the old state and the next ones read the new state.
 * - `(BUILD_LOCK, view)`: session lock of whoever builds or rebuilds the view
 *   (one builder per view per database).
 */

export const LOCK_CLASS = 7_240_014;
export const BUILD_LOCK = 7_240_015;

/** Advisory lock key of a view (stable across processes). */
export function viewLockKey(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** The exclusive (switch) lock statement of a view. */
export function exclusiveLockSql(name: string): string {
  return `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, ${viewLockKey(name)})`;
}

/** Run `fn` holding the view's build lock (session scope) on `client`. */
export async function withBuildLock<T>(client: PoolClient, name: string, fn: () => Promise<T>): Promise<T> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [BUILD_LOCK, viewLockKey(name)]);
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [BUILD_LOCK, viewLockKey(name)]).catch(() => {});
  }
}

/**
 * Wait until every transaction with an id at the time of the call has ended
 * (bounded by the longest running one): a batch that read a view's state
 * before the caller's last commit has then committed or rolled back, so the
 * caller's next snapshot holds it.
 */
export async function waitForOlderTransactions(client: PoolClient): Promise<void> {
  const { rows } = await client.query<{ xmax: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax');
  const xmax = rows[0]!.xmax;
  for (;;) {
    const r = await client.query<{ done: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done', [xmax]);
    if (r.rows[0]!.done) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Run `fn` in one transaction on `client` (BEGIN `mode`), rolled back when it throws. */
export async function inTransaction<T>(client: PoolClient, fn: () => Promise<T>, mode = ''): Promise<T> {
  await client.query(`BEGIN${mode ? ` ${mode}` : ''}`);
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

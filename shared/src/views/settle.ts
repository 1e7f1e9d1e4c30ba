import type { PoolClient } from '../db/pool.ts';
import type { ViewStatements } from './sql.ts';

/**
 * After a fold (the RETURNING rows of foldBatch/foldLog: `k0…`, `settle`,
 * `t`, fold-sql.ts upsert): recompute the groups marked stale, delete the
 * groups whose row count reached 0, each statement only when some group needs it.
 */
export async function settle(client: PoolClient, sql: Pick<ViewStatements, 'recompute' | 'dropEmpty'>, rows: readonly Record<string, unknown>[]): Promise<void> {
  // The rows by ctid (`t`): the fold's own tuple versions, locked by this transaction, so nobody moved them since.
  // The two sets are disjoint (stale groups that still hold rows; groups with none), so the recompute moves none of the second.
  const arrays = (pick: (r: Record<string, unknown>) => boolean) => {
    const sel = rows.filter(pick);
    return sel.length === 0 ? null : [sel.map((r) => r['t'] as string)];
  };
  if (sql.recompute !== null) {
    const stale = arrays((r) => r['settle'] === 'stale');
    if (stale !== null) await client.query({ ...sql.recompute, values: stale });
  }
  const empty = arrays((r) => r['settle'] === 'empty');
  if (empty !== null) await client.query({ ...sql.dropEmpty, values: empty });
}

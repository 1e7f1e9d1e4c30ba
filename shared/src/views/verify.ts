import { longQuery, type Pool } from '../db/pool.ts';
import type { BoundView } from './bind.ts';
import { viewStatements } from './sql.ts';

/**
 * `verify`: recompute a view from its base table and compare, group by
 * group, in one REPEATABLE READ snapshot. No lock: a batch changes the table
 * and the view in one transaction, so any snapshot sees both or neither.
 */

/** Every group where the view and a fresh `SELECT … GROUP BY` differ (empty: exact). Records the result. */
export async function verifyView(pool: Pool, v: { bound: BoundView; sql?: { verify: string } }): Promise<{ stored: string | null; fresh: string | null }[]> {
  const client = await pool.connect();
  try {
    // One snapshot for both sides. No lock: a batch changes the table and the view in one transaction, so any snapshot sees both or neither.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await client.query('SET LOCAL statement_timeout = 0');
    const { rows } = await longQuery<{ stored: string | null; fresh: string | null }>(client, (v.sql ?? viewStatements(v.bound, new Map())).verify);
    await client.query('COMMIT');
    await client.query('UPDATE sluice.views SET verified_at = now(), differing = $2 WHERE name = $1', [v.bound.name, rows.length]);
    return rows;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

import type { Queryable } from '../db/pool.ts';

/** The primary's current WAL position (text). */
export async function currentLsn(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
  return rows[0]!.l;
}

/** Standbys streaming from this primary that have not replayed up to `lsn` yet (0: all have, or there are none). */
export async function standbysBehind(db: Queryable, lsn: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming' AND (replay_lsn IS NULL OR replay_lsn < $1::pg_lsn)",
    [lsn],
  );
  return Number(rows[0]!.n);
}

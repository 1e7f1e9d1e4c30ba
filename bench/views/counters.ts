import type pg from 'pg';
import type { Logger } from '@sluice/shared/log/index.ts';
import { startPostgres, type LocalPostgres } from '../lib/shared.ts';

/**
 * Work counters that do not depend on how loaded the machine is: buffer
 * accesses (shared_blks_hit + read) and WAL records of every statement the
 * flushes ran, from pg_stat_statements. CPU per row on a shared 2-core
 * machine moves by ±20 % between runs; these move by nothing when the SQL
 * does not change, so they show what a change to the maintenance SQL saved.
 * Without the module installed the bench runs without them.
 */

/** Start the bench's Postgres, with pg_stat_statements preloaded when it can be. */
export async function startCountingPostgres(log: Logger): Promise<{ server: LocalPostgres; counting: boolean }> {
  try {
    return { server: await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } }), counting: true };
  } catch (err) {
    log.warn({ err }, 'pg_stat_statements not available: buffers and WAL records per row are not reported');
    return { server: await startPostgres(), counting: false };
  }
}

/** Create the extension (once) and zero the counters. */
export async function resetCounters(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pool.query('SELECT pg_stat_statements_reset()');
}

/** Buffer accesses and WAL records since the last reset, per committed row. */
export async function countersPerRow(pool: pg.Pool, rows: number): Promise<{ buffers: number; wal: number }> {
  const { rows: r } = await pool.query<{ b: string | null; w: string | null }>(
    `SELECT sum(shared_blks_hit + shared_blks_read) AS b, sum(wal_records) AS w FROM pg_stat_statements WHERE query !~ 'pg_stat_statements'`,
  );
  return { buffers: Number(r[0]!.b ?? 0) / rows, wal: Number(r[0]!.w ?? 0) / rows };
}

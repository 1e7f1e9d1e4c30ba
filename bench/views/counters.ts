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
    return { server: await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' } }), counting: true };
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

/** One statement's share of a variant's run (pg_stat_statements: execution and planning time, wall clock). */
export interface StatementTime {
  statement: string;
  calls: number;
  'µs/row': number;
  /** Of which planning (custom plans: every execution; a generic plan: once per connection). */
  'planning µs/row': number;
  plans: number;
  'rows returned/call': number;
}

/** Statements since the last reset, dearest first: time per committed row (a time, so it moves with the machine's load as CPU does). */
export async function statementTimes(pool: pg.Pool, rows: number): Promise<StatementTime[]> {
  const { rows: r } = await pool.query<{ q: string; calls: string; ms: number; plan_ms: number; plans: string; returned: string }>(
    `SELECT regexp_replace(left(query, 8000), '\\s+', ' ', 'g') AS q, calls::text, total_exec_time + total_plan_time AS ms, total_plan_time AS plan_ms, plans::text, rows::text AS returned
       FROM pg_stat_statements WHERE query !~ 'pg_stat_statements' ORDER BY ms DESC LIMIT 8`,
  );
  return r.map((x) => ({ statement: summarize(x.q), calls: Number(x.calls), 'µs/row': Number(((x.ms * 1000) / rows).toFixed(2)), 'planning µs/row': Number(((x.plan_ms * 1000) / rows).toFixed(2)), plans: Number(x.plans), 'rows returned/call': Math.round(Number(x.returned) / Number(x.calls)) }));
}

/** A statement's first words and the table it writes or reads (enough to tell the fold from the insert). */
function summarize(q: string): string {
  const target = /(?:INSERT INTO|COPY|UPDATE|DELETE FROM)\s+([\w."]+)/i.exec(q);
  const head = q.startsWith('WITH') ? 'WITH … ' : '';
  return (target ? `${head}${target[0]}` : q.slice(0, 60)).slice(0, 70);
}

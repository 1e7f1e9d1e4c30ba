import type { Queryable } from '../db/pool.ts';

/**
 * `sluice.shard_moves` (first shard): every move of a key range and where it
 * stands. The admin API creates and cancels moves; the mover (a writer
 * holding the mover lock) drives them and records each step, so a mover
 * killed at any step is resumed by the next.
 */

/** States of a move, in order (or ended early). */
export type MoveState = 'pending' | 'copying' | 'catching-up' | 'cutover' | 'cleanup' | 'done' | 'failed' | 'cancelling' | 'cancelled';

/** A move as stored. */
export interface MoveRow {
  id: number;
  lo: number | null;
  hi: number | null;
  source: string;
  target: string;
  state: MoveState;
  step: string | null;
  snapshot: string | null;
  rowsCopied: number;
  rowsLogged: number;
  rowsDeleted: number;
  pauseMs: number | null;
  verify: unknown;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

const COLUMNS = `id, lo, hi, source, target, state, step, snapshot, rows_copied, rows_logged, rows_deleted, pause_ms, verify, error, created_at, updated_at, finished_at`;

interface Row {
  id: string;
  lo: string | null;
  hi: string | null;
  source: string;
  target: string;
  state: MoveState;
  step: string | null;
  snapshot: string | null;
  rows_copied: string;
  rows_logged: string;
  rows_deleted: string;
  pause_ms: number | null;
  verify: unknown;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const num = (v: string | null) => (v === null ? null : Number(v));

function toMove(r: Row): MoveRow {
  return {
    id: Number(r.id), lo: num(r.lo), hi: num(r.hi), source: r.source, target: r.target, state: r.state, step: r.step, snapshot: r.snapshot,
    rowsCopied: Number(r.rows_copied), rowsLogged: Number(r.rows_logged), rowsDeleted: Number(r.rows_deleted), pauseMs: r.pause_ms, verify: r.verify, error: r.error,
    createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString(), finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

/** Create a move (state `pending`); null when another move is unfinished (one at a time). */
export async function createMove(db: Queryable, m: { lo: number | null; hi: number | null; source: string; target: string }): Promise<MoveRow | null> {
  const { rows } = await db.query<Row>(
    `INSERT INTO sluice.shard_moves (lo, hi, source, target, state) VALUES ($1, $2, $3, $4, 'pending')
     ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
    [m.lo, m.hi, m.source, m.target],
  );
  return rows[0] === undefined ? null : toMove(rows[0]);
}

/** One move. */
export async function getMove(db: Queryable, id: number): Promise<MoveRow | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM sluice.shard_moves WHERE id = $1`, [id]);
  return rows[0] === undefined ? null : toMove(rows[0]);
}

/** Moves, newest first. */
export async function listMoves(db: Queryable, limit = 50): Promise<MoveRow[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM sluice.shard_moves ORDER BY id DESC LIMIT $1`, [limit]);
  return rows.map(toMove);
}

/** The unfinished move, if any. */
export async function activeMove(db: Queryable): Promise<MoveRow | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM sluice.shard_moves WHERE state NOT IN ('done', 'failed', 'cancelled') ORDER BY id LIMIT 1`);
  return rows[0] === undefined ? null : toMove(rows[0]);
}

/** Fields the mover records as it goes. */
export type MoveUpdate = Partial<Pick<MoveRow, 'state' | 'step' | 'snapshot' | 'rowsCopied' | 'rowsLogged' | 'rowsDeleted' | 'pauseMs' | 'error'>> & { verify?: unknown; finished?: boolean };

const FIELDS: Record<string, string> = { state: 'state', step: 'step', snapshot: 'snapshot', rowsCopied: 'rows_copied', rowsLogged: 'rows_logged', rowsDeleted: 'rows_deleted', pauseMs: 'pause_ms', error: 'error', verify: 'verify' };

/** Record progress of move `id`; `onlyIn` guards a state change (false when the move is not in one of those states any more). */
export async function updateMove(db: Queryable, id: number, u: MoveUpdate, onlyIn?: readonly MoveState[]): Promise<boolean> {
  const sets: string[] = ['updated_at = now()'];
  const values: unknown[] = [id];
  for (const [k, col] of Object.entries(FIELDS)) {
    const v = (u as Record<string, unknown>)[k];
    if (v === undefined) continue;
    values.push(k === 'verify' ? JSON.stringify(v) : v);
    sets.push(`${col} = $${values.length}${k === 'verify' ? '::jsonb' : ''}`);
  }
  if (u.finished) sets.push('finished_at = now()');
  let where = 'id = $1';
  if (onlyIn !== undefined) {
    values.push(onlyIn);
    where += ` AND state = ANY($${values.length}::text[])`;
  }
  const res = await db.query(`UPDATE sluice.shard_moves SET ${sets.join(', ')} WHERE ${where}`, values);
  return res.rowCount === 1;
}

/**
 * When keys of [lo, hi) last left `shard` (a move from it cut over) within
 * the last `withinMs`, as ISO time; null when not. Bounds are null for
 * unbounded; [a, b) and [c, d) overlap when a < d and c < b.
 */
export async function recentlyLeft(db: Queryable, r: { lo: number | null; hi: number | null; shard: string; withinMs: number }): Promise<string | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT max(updated_at) AS at FROM sluice.shard_moves
      WHERE source = $1 AND state IN ('cleanup', 'done') AND updated_at > now() - make_interval(secs => $2::float8 / 1000)
        AND (lo IS NULL OR $4::bigint IS NULL OR lo < $4) AND ($3::bigint IS NULL OR hi IS NULL OR $3 < hi)`,
    [r.shard, r.withinMs, r.lo, r.hi],
  );
  return rows[0]?.at?.toISOString() ?? null;
}

import type { Queryable } from '../db/pool.ts';

/**
 * `sluice.dead_letters` for the admin API: filtered keyset pages (newest
 * first, by id: never OFFSET), one row, marking a replay, and discarding
 * (a soft delete: `discarded_at`, see migration 0002 for why rows stay).
 */

/** Which dead letters a list shows. */
export type DeadLetterState = 'pending' | 'replayed' | 'discarded' | 'all';

/** Filters of a list page. */
export interface DeadLetterQuery {
  table?: string;
  /** A full SQLSTATE (`23505`) or a class (`23`). */
  sqlstate?: string;
  /** created_at ≥ since (inclusive). */
  since?: Date;
  /** created_at < until (exclusive). */
  until?: Date;
  state: DeadLetterState;
  /** Keyset cursor: only ids below this. */
  after?: number;
  limit: number;
}

/** One dead letter as the API shows it. */
export interface DeadLetter {
  id: number;
  writeId: string;
  jobId: string;
  table: string | null;
  sqlstate: string;
  message: string;
  constraint: string | null;
  column: string | null;
  detail: string | null;
  attempts: number;
  createdAt: string;
  replayedAt: string | null;
  replayWriteId: string | null;
  discardedAt: string | null;
  /** The stored request (`WriteRequest`): only on a single dead letter. */
  payload?: unknown;
}

interface Row {
  id: string;
  write_id: string;
  job_id: string;
  table_name: string | null;
  sqlstate: string;
  message: string;
  constraint_name: string | null;
  column_name: string | null;
  detail: string | null;
  attempts: number;
  created_at: Date;
  replayed_at: Date | null;
  replay_write_id: string | null;
  discarded_at: Date | null;
  payload?: unknown;
}

const COLUMNS = `id, write_id, job_id, table_name, sqlstate, message, constraint_name, column_name, detail, attempts,
  created_at, replayed_at, replay_write_id, discarded_at`;

const STATE_SQL: Record<DeadLetterState, string> = {
  pending: 'replayed_at IS NULL AND discarded_at IS NULL',
  replayed: 'replayed_at IS NOT NULL',
  discarded: 'discarded_at IS NOT NULL',
  all: 'true',
};

// One text per state; a NULL parameter switches its filter off.
const LIST = (state: DeadLetterState) => `SELECT ${COLUMNS} FROM sluice.dead_letters
 WHERE ${STATE_SQL[state]}
   AND ($1::text IS NULL OR table_name = $1)
   AND ($2::text IS NULL OR sqlstate = $2 OR (length($2) = 2 AND left(sqlstate, 2) = $2))
   AND ($3::timestamptz IS NULL OR created_at >= $3)
   AND ($4::timestamptz IS NULL OR created_at < $4)
   AND ($5::bigint IS NULL OR id < $5)
 ORDER BY id DESC
 LIMIT $6`;

function toApi(r: Row): DeadLetter {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  const out: DeadLetter = {
    id: Number(r.id),
    writeId: r.write_id,
    jobId: r.job_id,
    table: r.table_name,
    sqlstate: r.sqlstate,
    message: r.message,
    constraint: r.constraint_name,
    column: r.column_name,
    detail: r.detail,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
    replayedAt: iso(r.replayed_at),
    replayWriteId: r.replay_write_id,
    discardedAt: iso(r.discarded_at),
  };
  if (r.payload !== undefined) out.payload = r.payload;
  return out;
}

/** Dead-letter queries on one pool. */
export class DeadLetterStore {
  constructor(private readonly db: Queryable) {}

  /** One page, newest first, and the cursor of the next page (null when this was the last). */
  async list(q: DeadLetterQuery): Promise<{ items: DeadLetter[]; next: number | null }> {
    const values = [q.table ?? null, q.sqlstate ?? null, q.since ?? null, q.until ?? null, q.after ?? null, q.limit + 1];
    const { rows } = await this.db.query<Row>(LIST(q.state), values);
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map(toApi);
    return { items, next: more ? items[items.length - 1]!.id : null };
  }

  /** One dead letter with its payload, or null. */
  async get(id: number): Promise<DeadLetter | null> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS}, payload FROM sluice.dead_letters WHERE id = $1`, [id]);
    return rows[0] ? toApi(rows[0]) : null;
  }

  /**
   * Record the replay's writeId. The first replay wins: a repeated call keeps
   * the original time and writeId (it replays the same write, see the route).
   */
  async markReplayed(id: number, writeId: string): Promise<DeadLetter | null> {
    const { rows } = await this.db.query<Row>(
      `UPDATE sluice.dead_letters SET replayed_at = coalesce(replayed_at, now()), replay_write_id = coalesce(replay_write_id, $2)
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, writeId],
    );
    return rows[0] ? toApi(rows[0]) : null;
  }

  /** Discard (soft delete); false when there is no such dead letter. Discarding twice is fine. */
  async discard(id: number): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE sluice.dead_letters SET discarded_at = coalesce(discarded_at, now()) WHERE id = $1', [id]);
    return rowCount === 1;
  }

  /** Dead letters neither replayed nor discarded. */
  async pendingCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice.dead_letters WHERE ${STATE_SQL.pending}`);
    return rows[0]!.n;
  }
}

import type { Queryable } from '../db/pool.ts';
import { BUILD_LOCK, viewLockKey } from './locks.ts';

/**
 * What `GET /v1/admin/views[/{name}]` says of each view on one shard: its
 * state, rows, last verify, and its last rebuild asked through the admin API
 * (rebuild-job.ts). A rebuild is `running` while someone holds the view's
 * build lock; started, unfinished and unlocked is `interrupted` (its gateway
 * died: the view stays `rebuilding`, served from its live table, until a
 * rebuild or a writer start redoes it).
 */

export type RebuildStatus = 'running' | 'done' | 'failed' | 'interrupted';

export interface ViewStatusRow {
  name: string;
  state: string;
  rowsAtBuild: string | null;
  rowsEstimate: string;
  verifiedAt: Date | null;
  differing: number | null;
  readyAt: Date | null;
  /** The last rebuild (null: none asked through the admin API on this database). */
  rebuild: { status: RebuildStatus; phase: string | null; startedAt: Date; finishedAt: Date | null; ms: number | null; logged: string | null; error: string | null } | null;
}

type Row = Omit<ViewStatusRow, 'rebuild'> & { startedAt: Date | null; phase: string | null; finishedAt: Date | null; ms: number | null; logged: string | null; error: string | null };

/**
 * The rows of `sluice.views` on `db` (every view, or the one named), in name order.
 *
 * The row and the build locks are two reads, and a rebuild records its end
 * before it lets its lock go: a rebuild ending between them would look
 * started, unfinished and unlocked, `interrupted`. So a row judged
 * interrupted is read again after the locks: a rebuild that let its lock go
 * before the lock read had recorded its end before that, and the second read
 * sees it (`done` or `failed`); still unfinished, it really was interrupted.
 */
export async function viewStatusRows(db: Queryable, name?: string): Promise<ViewStatusRow[]> {
  const rows = await readRows(db, name ?? null);
  if (rows.length === 0) return [];
  const held = await heldBuildLocks(db);
  const judged = rows.map((r) => judge(r, held));
  const again = judged.filter((r) => r.rebuild?.status === 'interrupted').map((r) => r.name);
  if (again.length === 0) return judged;
  const reread = new Map((await readRows(db, null)).filter((r) => again.includes(r.name)).map((r) => [r.name, judge(r, held)]));
  return judged.map((r) => reread.get(r.name) ?? r);
}

async function readRows(db: Queryable, name: string | null): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `SELECT v.name, v.state, v.rows AS "rowsAtBuild", greatest(c.reltuples, 0)::bigint AS "rowsEstimate", v.verified_at AS "verifiedAt", v.differing, v.ready_at AS "readyAt",
            v.rebuild_started_at AS "startedAt", v.rebuild_phase AS phase, v.rebuild_finished_at AS "finishedAt",
            round(extract(epoch FROM v.rebuild_finished_at - v.rebuild_started_at) * 1000)::int AS ms, v.rebuild_logged AS logged, v.rebuild_error AS error
       FROM sluice.views v LEFT JOIN pg_class c ON c.oid = to_regclass('sluice_views.' || quote_ident(v.name || '__data'))
      WHERE $1::text IS NULL OR v.name = $1
      ORDER BY v.name`,
    [name],
  );
  return rows;
}

/** The keys of the build locks held in this database: (BUILD_LOCK, key) shows as classid, objid (as an unsigned oid), objsubid 2. */
async function heldBuildLocks(db: Queryable): Promise<Set<number>> {
  const locks = await db.query<{ key: string }>(
    `SELECT objid::bigint AS key FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [BUILD_LOCK],
  );
  return new Set(locks.rows.map((r) => Number(r.key)));
}

function judge({ startedAt, phase, finishedAt, ms, logged, error, ...r }: Row, held: Set<number>): ViewStatusRow {
  return {
    ...r,
    rebuild:
      startedAt === null
        ? null
        : { status: error !== null ? 'failed' : finishedAt !== null ? 'done' : held.has(viewLockKey(r.name) >>> 0) ? 'running' : 'interrupted', phase, startedAt, finishedAt, ms, logged, error },
  };
}

/** The status of a view's last rebuild over every shard: the worst of them (failed, interrupted, running, done). */
export function overallRebuild(rows: readonly ViewStatusRow[]): RebuildStatus | null {
  const order: RebuildStatus[] = ['failed', 'interrupted', 'running', 'done'];
  const seen = rows.map((r) => r.rebuild?.status);
  return order.find((s) => seen.includes(s)) ?? null;
}

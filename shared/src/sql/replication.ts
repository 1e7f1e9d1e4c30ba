import type { Queryable } from '../db/pool.ts';

/** The primary's current WAL position (text). */
export async function currentLsn(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
  return rows[0]!.l;
}

/** Which position of a standby counts: WAL written to its disk (`flush`), or applied and visible to its readers (`replay`). */
export type StandbyPositionKind = 'flush' | 'replay';

/** What a server says about itself and the standbys streaming from it, in one query. */
export interface StandbyState {
  /** The server is a standby itself (not a primary that may take writes). */
  inRecovery: boolean;
  /** Timeline of its WAL insert position (null on a standby); a promotion starts a new one. */
  timeline: number | null;
  /** Each streaming standby's position of the asked kind (null: not reported yet, or not visible to this role). */
  positions: (string | null)[];
}

// pg_walfile_name() refuses to run during recovery (55000), hence the CASE.
// Its first 8 hex digits are the timeline of the current insert position:
// a promoted standby writes on a new one at once (pg_control's checkpoint
// timeline would trail until the end-of-recovery checkpoint finishes).
const STATE_SQL = (kind: StandbyPositionKind) => `
SELECT pg_is_in_recovery() AS rec,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS wal,
       ARRAY(SELECT ${kind}_lsn::text FROM pg_stat_replication WHERE state = 'streaming') AS pos`;
const STATE_TEXT = { flush: STATE_SQL('flush'), replay: STATE_SQL('replay') } as const;

/**
 * The server's role and timeline and its streaming standbys' positions
 * (`pg_stat_replication`; the LSN columns need superuser or `pg_monitor`,
 * otherwise they read as null and no standby ever counts as caught up).
 */
export async function standbyState(db: Queryable, kind: StandbyPositionKind): Promise<StandbyState> {
  const { rows } = await db.query<{ rec: boolean; wal: string | null; pos: (string | null)[] }>(STATE_TEXT[kind]);
  const r = rows[0]!;
  return { inRecovery: r.rec, timeline: r.wal === null ? null : timelineOfWalFile(r.wal), positions: r.pos };
}

/** A server's role and timeline, read inside the batch transaction's BEGIN round trip (writer/src/confirm/timeline-floor.ts). */
export interface ServerState {
  inRecovery: boolean;
  /** Null on a standby. */
  timeline: number | null;
}

/** The SELECT that reads a {@link ServerState}: fixed text, sent with BEGIN as one simple-query string. */
export const SERVER_STATE_SQL = 'SELECT pg_is_in_recovery() AS rec, CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS wal';

/** The {@link ServerState} of a {@link SERVER_STATE_SQL} result row. */
export function serverStateOf(row: { rec?: boolean; wal?: string | null } | undefined): ServerState {
  if (row?.rec === undefined) throw new Error('no server state in the BEGIN round trip');
  return { inRecovery: row.rec, timeline: row.wal ? timelineOfWalFile(row.wal) : null };
}

/** The {@link ServerState} of the server behind `db`, in one query. */
export async function serverState(db: Queryable): Promise<ServerState> {
  const { rows } = await db.query<{ rec: boolean; wal: string | null }>(SERVER_STATE_SQL);
  return serverStateOf(rows[0]);
}

/** The timeline of a WAL file name (`000000020000000000000003` → 2). */
export function timelineOfWalFile(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

/** A WAL position (`16/B374D848`) as a number that compares correctly. */
export function lsnValue(lsn: string): bigint {
  const slash = lsn.indexOf('/');
  if (slash < 0) throw new Error(`not a WAL position: ${lsn}`);
  return (BigInt(`0x${lsn.slice(0, slash)}`) << 32n) | BigInt(`0x${lsn.slice(slash + 1)}`);
}

/** How many of `positions` are at or past `lsn`. */
export function standbysAt(positions: readonly (string | null)[], lsn: string): number {
  const target = lsnValue(lsn);
  return positions.filter((p) => p !== null && lsnValue(p) >= target).length;
}

/** Standbys streaming from this primary that have not replayed up to `lsn` yet (0: all have, or there are none). */
export async function standbysBehind(db: Queryable, lsn: string): Promise<number> {
  const { positions } = await standbyState(db, 'replay');
  return positions.length - standbysAt(positions, lsn);
}

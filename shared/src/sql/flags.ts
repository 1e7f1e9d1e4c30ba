import type { Pool, Queryable } from '../db/pool.ts';
import { withTransaction } from '../db/pool.ts';
import type { Flag } from '../flags/evaluate.ts';

/**
 * `sluice.flags` and its audit trail `sluice.flag_changes` (migration 0006),
 * on the first shard. Every change runs under one advisory lock and takes the
 * next value of `sluice.flag_version`, so versions commit in order and the
 * set's version (max over the audit rows) tells a follower whether it is behind.
 */

/** Key of the transaction-scoped advisory lock serialising flag changes (arbitrary, fixed). */
const FLAG_LOCK = 7_305_115_002;

/** The whole set at one snapshot: what a follower holds. */
export interface FlagSnapshot {
  version: number;
  flags: Flag[];
}

/** One audit row: who changed what, when, from what to what. */
export interface FlagChange {
  version: number;
  name: string;
  actor: string;
  at: string;
  before: Flag | null;
  after: Flag | null;
}

/** What a PUT sets. */
export interface FlagInput {
  enabled: boolean;
  rollout: number;
  description: string;
}

const FLAG_JSON = `json_build_object('name', name, 'enabled', enabled, 'rollout', rollout, 'description', description,
  'version', version, 'updatedBy', updated_by, 'updatedAt', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

/** Every flag and the set's version, read in one statement (one snapshot). */
export async function loadFlags(db: Queryable): Promise<FlagSnapshot> {
  const { rows } = await db.query<{ v: string; flags: Flag[] | null }>(
    `SELECT (SELECT coalesce(max(version), 0) FROM sluice.flag_changes) AS v,
            (SELECT json_agg(${FLAG_JSON} ORDER BY name) FROM sluice.flags) AS flags`,
  );
  return { version: Number(rows[0]!.v), flags: (rows[0]!.flags ?? []).map(numbered) };
}

/** The set's version alone: what the periodic reconcile polls (an index-only max). */
export async function flagSetVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string }>('SELECT coalesce(max(version), 0) AS v FROM sluice.flag_changes');
  return Number(rows[0]!.v);
}

function numbered(f: Flag): Flag {
  return { ...f, version: Number(f.version) };
}

async function current(db: Queryable, name: string): Promise<Flag | null> {
  const { rows } = await db.query<{ f: Flag }>(`SELECT ${FLAG_JSON} AS f FROM sluice.flags WHERE name = $1`, [name]);
  return rows[0] === undefined ? null : numbered(rows[0].f);
}

async function audit(db: Queryable, version: number, name: string, actor: string, before: Flag | null, after: Flag | null): Promise<void> {
  await db.query('INSERT INTO sluice.flag_changes (version, name, actor, before, after) VALUES ($1, $2, $3, $4, $5)', [version, name, actor, before && JSON.stringify(before), after && JSON.stringify(after)]);
}

/** Create or replace `name`; returns the flag at its new version (every PUT is a change, even an identical one). */
export async function putFlag(pool: Pool, name: string, input: FlagInput, actor: string): Promise<Flag> {
  return withTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [FLAG_LOCK]);
    const before = await current(c, name);
    const { rows } = await c.query<{ f: Flag }>(
      `INSERT INTO sluice.flags AS t (name, enabled, rollout, description, version, updated_by)
       VALUES ($1, $2, $3, $4, nextval('sluice.flag_version'), $5)
       ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, rollout = excluded.rollout, description = excluded.description,
         version = excluded.version, updated_by = excluded.updated_by, updated_at = now()
       RETURNING ${FLAG_JSON} AS f`,
      [name, input.enabled, input.rollout, input.description, actor],
    );
    const after = numbered(rows[0]!.f);
    await audit(c, after.version, name, actor, before, after);
    return after;
  });
}

/** Delete `name`; returns the version of the deletion, or null when there was no such flag. */
export async function deleteFlag(pool: Pool, name: string, actor: string): Promise<number | null> {
  return withTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [FLAG_LOCK]);
    const before = await current(c, name);
    if (before === null) return null;
    const { rows } = await c.query<{ v: string }>("SELECT nextval('sluice.flag_version') AS v");
    const version = Number(rows[0]!.v);
    await c.query('DELETE FROM sluice.flags WHERE name = $1', [name]);
    await audit(c, version, name, actor, before, null);
    return version;
  });
}

/** The changes of `name`, newest first (at most `limit`). */
export async function flagHistory(db: Queryable, name: string, limit: number): Promise<FlagChange[]> {
  const { rows } = await db.query<{ version: string; name: string; actor: string; at: string; before: Flag | null; after: Flag | null }>(
    `SELECT version, name, actor, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, before, after
     FROM sluice.flag_changes WHERE name = $1 ORDER BY version DESC LIMIT $2`,
    [name, limit],
  );
  return rows.map((r) => ({ version: Number(r.version), name: r.name, actor: r.actor, at: r.at, before: r.before && numbered(r.before), after: r.after && numbered(r.after) }));
}

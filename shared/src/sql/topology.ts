import type { Queryable } from '../db/pool.ts';
import type { MapDoc } from '../topology/shard-map.ts';

/**
 * `sluice.topology`: the shard map, one row per version (never updated; the
 * latest version is the map). Lives on the first shard.
 */

/** One stored version. */
export interface StoredMap {
  version: number;
  doc: MapDoc;
}

/** The latest stored map, or null before the first one. */
export async function latestMap(db: Queryable): Promise<StoredMap | null> {
  const { rows } = await db.query<{ version: string; map: MapDoc }>('SELECT version, map FROM sluice.topology ORDER BY version DESC LIMIT 1');
  return rows[0] === undefined ? null : { version: Number(rows[0].version), doc: rows[0].map };
}

/** The latest version number (0 before the first): what watchers poll. */
export async function latestMapVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string | null }>('SELECT max(version) AS v FROM sluice.topology');
  return Number(rows[0]?.v ?? 0);
}

/**
 * Store `doc` as `version` if no such version exists yet: compare-and-set on
 * the primary key, so of two processes deriving a next version from the same
 * map exactly one wins. Resolves false for the loser (it re-reads and retries).
 */
export async function insertMap(db: Queryable, version: number, doc: MapDoc, reason: string): Promise<boolean> {
  const res = await db.query('INSERT INTO sluice.topology (version, map, reason) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING', [version, JSON.stringify(doc), reason]);
  return res.rowCount === 1;
}

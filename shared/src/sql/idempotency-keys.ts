import { named, type Queryable } from '../db/pool.ts';

/**
 * `sluice.idempotency_keys`: one row per request that sent an Idempotency-Key
 * (draft-ietf-httpapi-idempotency-key-header), written by the writer in the
 * data transaction; the gateway's authority when Redis does not know a key.
 */

/** One key as stored. */
export interface StoredKey {
  scope: string;
  key: string;
  requestHash: string;
  writeId: string;
}

// Prepared once per connection, like applied-jobs.ts's claim (no plan choice to make). READ is left
// unnamed: a generic plan of its join would not see how many keys it is given.
const CLAIM = named(`INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING RETURNING write_id`);

const READ = `SELECT k.scope, k.key, k.request_hash, k.write_id FROM sluice.idempotency_keys k
JOIN unnest($1::text[], $2::text[]) AS u(scope, key) ON k.scope = u.scope AND k.key = u.key`;

interface Row {
  scope: string;
  key: string;
  request_hash: string;
  write_id: string;
}

const toStored = (r: Row): StoredKey => ({ scope: r.scope, key: r.key, requestHash: r.request_hash, writeId: r.write_id });

/**
 * Insert keys in the order given (DO NOTHING keeps the first of two equal
 * keys in one statement); returns the writeIds whose key was recorded now.
 */
export async function claimKeys(db: Queryable, keys: readonly StoredKey[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const { rows } = await db.query<{ write_id: string }>({ ...CLAIM, values: [keys.map((k) => k.scope), keys.map((k) => k.key), keys.map((k) => k.requestHash), keys.map((k) => k.writeId)] });
  return new Set(rows.map((r) => r.write_id));
}

/** The stored rows of (scope, key) pairs, by `scope\0key`. */
export async function readKeys(db: Queryable, pairs: readonly { scope: string; key: string }[]): Promise<Map<string, StoredKey>> {
  if (pairs.length === 0) return new Map();
  const { rows } = await db.query<Row>(READ, [pairs.map((p) => p.scope), pairs.map((p) => p.key)]);
  return new Map(rows.map((r) => [`${r.scope}\u0000${r.key}`, toStored(r)]));
}

/** The stored row of one key, if any. */
export async function findKey(db: Queryable, scope: string, key: string): Promise<StoredKey | undefined> {
  const { rows } = await db.query<Row>('SELECT scope, key, request_hash, write_id FROM sluice.idempotency_keys WHERE scope = $1 AND key = $2', [scope, key]);
  return rows[0] === undefined ? undefined : toStored(rows[0]);
}

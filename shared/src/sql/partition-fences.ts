import type { Queryable } from '../db/pool.ts';

/**
 * Fencing tokens of partition ownership (`sluice.partition_fences`, on the
 * shard the partition's batches commit to). A Redis lease alone cannot stop a
 * writer that froze past its TTL and woke up mid-batch; the token check inside
 * the batch transaction can: the row lock it takes is held until COMMIT, so a
 * new owner raising the token either waits for our COMMIT (and then sees our
 * jobs as applied) or has raised it already (and we roll back). Either way no
 * two owners' batches of one partition interleave.
 */

/** A check run inside a batch transaction; throws {@link FencedError} when a newer owner exists. */
export type Fence = ((db: Queryable) => Promise<void>) & {
  /**
   * The same check as SQL text to send together with BEGIN in one round trip
   * (a simple-query string; its values are a partition name we validated and
   * an integer we made, inlined), and the verdict on the UPDATE's row count.
   * Saves Postgres one statement per batch.
   */
  inline?: { sql: string; verify(rowCount: number | null): void };
};

/** A flush found a newer owner's token: it rolled back, and this writer must stop consuming the partition. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor(
    readonly partition: string,
    readonly token: number,
  ) {
    super(`partition ${partition}: a newer owner holds it (our token ${token} is stale); batch rolled back`);
  }
}

const CHECK = 'UPDATE sluice.partition_fences SET token = $2 WHERE partition = $1 AND token <= $2';
/** Partition names as topology/partitions.ts makes them: safe to inline as a literal. */
const SAFE_NAME = /^[a-z0-9_.-]{1,64}$/;

/** The fence of partition `name` for the holder of `token`. */
export function fenceOf(name: string, token: number): Fence {
  if (!SAFE_NAME.test(name) || !Number.isSafeInteger(token)) throw new TypeError('fence: bad partition name or token');
  const verify = (rowCount: number | null) => {
    if (rowCount !== 1) throw new FencedError(name, token);
  };
  const fence: Fence = async function fence(db: Queryable): Promise<void> {
    verify((await db.query(CHECK, [name, token])).rowCount);
  };
  fence.inline = { sql: `UPDATE sluice.partition_fences SET token = ${token} WHERE partition = '${name}' AND token <= ${token}`, verify };
  return fence;
}

const CLAIM = `INSERT INTO sluice.partition_fences AS l (partition, token, owner) VALUES ($1, $2, $3)
ON CONFLICT (partition) DO UPDATE SET token = EXCLUDED.token, owner = EXCLUDED.owner, acquired_at = now()
 WHERE l.token <= EXCLUDED.token
RETURNING token`;

/**
 * Raise partition `name`'s token to ours right after winning its lease, so the
 * previous owner's next flush fails (it may still be alive: frozen, or cut
 * off from Redis). Waits for a previous owner's open batch transaction to end.
 * Returns null on success, or the newer token Postgres already holds.
 */
export async function claimFence(db: Queryable, name: string, token: number, owner: string): Promise<number | null> {
  const res = await db.query(CLAIM, [name, token, owner]);
  if (res.rowCount === 1) return null;
  const cur = await db.query<{ token: string }>('SELECT token FROM sluice.partition_fences WHERE partition = $1', [name]);
  return Number(cur.rows[0]?.token ?? token);
}

/** Every partition's fencing token (for the admin view). */
export async function fenceTokens(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query<{ partition: string; token: string }>('SELECT partition, token FROM sluice.partition_fences');
  return new Map(rows.map((r) => [r.partition, Number(r.token)]));
}

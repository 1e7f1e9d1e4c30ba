import type { Queryable } from '@sluice/shared/db/index.ts';
import type { WriteOutcome } from '@sluice/shared/queue/contract.ts';
import type { WorkItem } from './types.ts';

/**
 * Outcomes of requests whose job was applied before (BullMQ redelivered it).
 * The first delivery may have committed and then died before publishing its
 * acks (RELIABILITY row 2): the gateway is still waiting, so tell it again,
 * from what the first transaction left behind.
 */

/** Stored fate of one earlier-applied request. */
export type Replay =
  | { s: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string }
  | { s: 'duplicate'; of: string }
  | { s: 'committed' };

const DEAD = `SELECT write_id, sqlstate, message, constraint_name, column_name
  FROM sluice.dead_letters WHERE write_id = ANY($1::text[])`;

const KEYS = `SELECT k.scope, k.key, k.write_id FROM sluice.idempotency_keys k
JOIN unnest($1::text[], $2::text[]) AS u(scope, key) ON k.scope = u.scope AND k.key = u.key`;

interface DeadRow {
  write_id: string;
  sqlstate: string;
  message: string;
  constraint_name: string | null;
  column_name: string | null;
}

/** Read what became of `items` (only those with an ack, so a normal batch pays nothing). */
export async function readReplays(db: Queryable, items: readonly WorkItem[]): Promise<Map<WorkItem, Replay>> {
  const out = new Map<WorkItem, Replay>();
  if (items.length === 0) return out;
  const dead = await db.query<DeadRow>(DEAD, [items.map((w) => w.req.id)]);
  const deadById = new Map(dead.rows.map((r) => [r.write_id, r]));
  const keyed = items.filter((w) => w.req.idem && !deadById.has(w.req.id));
  const keys = keyed.length === 0 ? { rows: [] } : await db.query<{ scope: string; key: string; write_id: string }>(KEYS, [keyed.map((w) => w.req.idem!.scope), keyed.map((w) => w.req.idem!.key)]);
  const ownerOf = new Map(keys.rows.map((r) => [`${r.scope}\u0000${r.key}`, r.write_id]));
  for (const w of items) {
    const d = deadById.get(w.req.id);
    if (d) {
      out.set(w, { s: 'dead', sqlstate: d.sqlstate, message: d.message, ...(d.constraint_name ? { constraint: d.constraint_name } : {}), ...(d.column_name ? { column: d.column_name } : {}) });
      continue;
    }
    const owner = w.req.idem ? ownerOf.get(`${w.req.idem.scope}\u0000${w.req.idem.key}`) : undefined;
    out.set(w, owner !== undefined && owner !== w.req.id ? { s: 'duplicate', of: owner } : { s: 'committed' });
  }
  return out;
}

/**
 * The outcome to publish for a replayed request. Per-op counts and keys of
 * the first application were not kept: `n` is empty and `keys` absent.
 */
export function replayOutcome(id: string, r: Replay, lsn: string, at: string): WriteOutcome {
  switch (r.s) {
    case 'dead':
      return { id, ...r };
    case 'duplicate':
      return { id, s: 'duplicate', of: r.of, lsn, at };
    case 'committed':
      return { id, s: 'committed', lsn, at, n: [] };
  }
}

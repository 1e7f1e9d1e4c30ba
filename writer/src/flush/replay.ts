import type { Queryable } from '@sluice/shared/db/pool.ts';
import type { WriteOutcome } from '@sluice/shared/queue/contract.ts';
import { refusalsOf, type Refusal } from '@sluice/shared/sql/dead-letters.ts';
import { readKeys } from '@sluice/shared/sql/idempotency-keys.ts';
import type { WorkItem } from './types.ts';

/**
 * Outcomes of requests whose job was applied before (the log redelivered
 * it). The first delivery may have committed and then died before publishing
 * its acks (RELIABILITY row 2): the gateway is still waiting, so tell it
 * again, from what the first transaction left behind.
 */

/** Stored fate of one earlier-applied request. */
export type Replay = ({ s: 'dead' } & Pick<Refusal, 'sqlstate' | 'message' | 'constraint' | 'column'>) | { s: 'duplicate'; of: string } | { s: 'committed' };

/** Read what became of `items` (only those with an ack, so a normal batch pays nothing). */
export async function readReplays(db: Queryable, items: readonly WorkItem[]): Promise<Map<WorkItem, Replay>> {
  const out = new Map<WorkItem, Replay>();
  if (items.length === 0) return out;
  const dead = await refusalsOf(db, items.map((w) => w.req.id));
  const keyed = items.filter((w) => w.req.idem && !dead.has(w.req.id));
  const keys = await readKeys(db, keyed.map((w) => w.req.idem!));
  for (const w of items) {
    const d = dead.get(w.req.id);
    if (d) {
      out.set(w, { s: 'dead', sqlstate: d.sqlstate, message: d.message, ...(d.constraint ? { constraint: d.constraint } : {}), ...(d.column ? { column: d.column } : {}) });
      continue;
    }
    const owner = w.req.idem ? keys.get(`${w.req.idem.scope}\u0000${w.req.idem.key}`)?.writeId : undefined;
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

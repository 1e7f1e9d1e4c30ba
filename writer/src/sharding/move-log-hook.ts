import { keyValuesOf } from '@sluice/shared/catalog/keys.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import { activeMoves, type ActiveMove } from '@sluice/shared/sql/move-log.ts';
import { inRange } from '@sluice/shared/topology/key-ranges.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { InTransactionHook } from '../flush/hooks.ts';
import type { RangeSql } from './range-sql.ts';

/**
 * A batch committed on a shard that has a range moving out logs, in its own
 * transaction, the rows it left in that range (`sluice.move_log`: the row as
 * it is after the batch, or NULL when deleted). The mover replays the log on
 * the target. Reading `active_moves` here, after the batch's job claims
 * (its first write), is what makes the copy's snapshot safe: see
 * `waitForRunningTransactions` in shared/src/sql/move-log.ts.
 */

/** A batch wrote a moving range without returning generated keys: the writer's map was stale. Retried. */
export class StaleMapError extends Error {
  override readonly name = 'StaleMapError';
}

/** A batch would commit a write of a range whose cutover is verifying: the batch fails and is retried (see mover.ts). */
export class SealedRangeError extends Error {
  override readonly name = 'SealedRangeError';
}

/** What the hook needs. */
export interface MoveLogDeps {
  router: ShardRouter;
  catalog: Catalog;
  /** The range statements of a sharded table. */
  sql(table: string): RangeSql;
}

/** The in-transaction hook (see the module comment). Costs one tiny query per batch that touches a sharded table. */
export function moveLogHook(d: MoveLogDeps): InTransactionHook {
  return async function logMovingRows(batch, client) {
    let sharded = false;
    for (const item of batch.applied.keys()) if (item.req.ops.some((op) => d.router.sharded(op.t))) sharded = true;
    if (!sharded) return;
    const moves = await activeMoves(client);
    if (moves.length === 0) return;
    const logs = new Map<string, { moveId: number; table: string; keys: Map<string, string[]> }>();
    for (const [item, result] of batch.applied) {
      item.req.ops.forEach((op, i) => {
        const value = d.router.valueOf(op);
        if (value === null || value === undefined) return;
        const m = moves.find((x: ActiveMove) => inRange(value, x.lo, x.hi));
        if (m === undefined) return;
        // Only a write that reached the source late (handed back by a fenced-out writer) gets here: the mover waits for it.
        if (m.sealed) throw new SealedRangeError(`${op.t}: a write of moving range (move ${m.moveId}) reached its source during the cutover's verification; retried`);
        const table = d.catalog.get(op.t)!;
        const returned = result.keys?.[i];
        const key = keyValuesOf(table, op) ?? (returned ? table.primaryKey.map((c) => String(returned[c.name])) : null);
        if (key === null) throw new StaleMapError(`${op.t}: a row of moving range (move ${m.moveId}) was inserted without its generated key returned; refreshing the shard map and retrying`);
        const id = `${m.moveId}\u0000${op.t}`;
        let log = logs.get(id);
        if (log === undefined) logs.set(id, (log = { moveId: m.moveId, table: op.t, keys: new Map() }));
        log.keys.set(key.join('\u0001'), key);
      });
    }
    for (const log of logs.values()) {
      const keys = [...log.keys.values()];
      const columns = d.catalog.get(log.table)!.primaryKey.map((_, c) => keys.map((k) => k[c]!));
      await client.query(d.sql(log.table).logRows, [log.moveId, log.table, ...columns]);
    }
  };
}

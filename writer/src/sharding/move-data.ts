import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Pool, PoolClient } from '@sluice/shared/db/pool.ts';
import { deleteLog, readLog } from '@sluice/shared/sql/move-log.ts';
import type { RangeSql } from './range-sql.ts';

/**
 * The data side of a move, between two shards' pools: copy a range under one
 * snapshot, replay the log, verify, delete. Every step is idempotent: a mover
 * killed anywhere does it again.
 */

/** A range of every sharded table. */
export interface MoveScope {
  lo: number | null;
  hi: number | null;
  tables: readonly RangeSql[];
}

const CHUNK = 1000;

/** Delete the range from `db`, CHUNK rows per statement; resolves with the rows deleted. */
export async function deleteRange(db: Pool, s: MoveScope, pauseMs = 0): Promise<number> {
  let total = 0;
  for (const t of s.tables) {
    for (;;) {
      const { rowCount } = await asMove(db, (c) => c.query(t.deleteChunk, [s.lo, s.hi, CHUNK]));
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < CHUNK) break;
      // Leave the write path room between chunks.
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
  return total;
}

/**
 * Every write the mover makes runs with `sluice.origin = 'move'` set for its
 * transaction: a user's trigger that must not fire for rows a move copies or
 * deletes (an audit log, a counter) can test
 * `current_setting('sluice.origin', true) = 'move'`.
 */
const MARK = "SELECT set_config('sluice.origin', 'move', true)";

/** Run `fn` in a transaction of its own on `db`, marked as the mover's. */
async function asMove<T>(db: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    await c.query(MARK);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/**
 * Copy the range from `source` to `target` in one REPEATABLE READ snapshot
 * (the target holds none of it: the mover cleared it), table by table with
 * COPY, streamed through this process without parsing a row: the writer
 * that runs the mover keeps flushing batches meanwhile. `onSnapshot`
 * receives the snapshot (the log replay skips what it holds) before any row
 * is copied, `onRows` the running count after each table.
 */
export async function copyRange(source: Pool, target: Pool, s: MoveScope, onSnapshot: (snapshot: string) => Promise<void>, onRows: (n: number) => Promise<void>): Promise<number> {
  const src = await source.connect();
  let copied = 0;
  try {
    await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await src.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
    await onSnapshot(rows[0]!.s);
    for (const t of s.tables) {
      copied += await asMove(target, async (dst) => {
        const into = dst.query(copyFrom(t.copyIn));
        await pipeline(src.query(copyTo(t.copyOut(s.lo, s.hi))), into);
        return into.rowCount;
      });
      await onRows(copied);
    }
    await src.query('COMMIT');
  } catch (err) {
    await src.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    src.release();
  }
  return copied;
}

/**
 * Apply one round of the log (up to `limit` entries) to the target, in one
 * transaction: each key ends in its last logged state. Resolves with the
 * entries applied; fewer than `limit` means the log was drained.
 */
export async function replayLog(source: Pool, target: Pool, moveId: number, snapshot: string | null, s: MoveScope, limit = 2000): Promise<{ applied: number; read: number }> {
  const { apply, skip } = await readLog(source, moveId, snapshot, limit);
  if (apply.length > 0) {
    const byTable = new Map(s.tables.map((t) => [t.table.name, t]));
    const last = new Map<string, Map<string, { key: string[]; row: string | null }>>();
    for (const e of apply) {
      let m = last.get(e.tbl);
      if (m === undefined) last.set(e.tbl, (m = new Map()));
      m.set(e.key.join('\u0001'), { key: e.key, row: e.row });
    }
    const client = await target.connect();
    try {
      await client.query('BEGIN');
      await client.query(MARK);
      for (const [tbl, entries] of last) {
        const t = byTable.get(tbl);
        if (t === undefined) continue; // a table no longer sharded or exposed: nothing to move
        const upserts = [...entries.values()].filter((e) => e.row !== null).map((e) => e.row!);
        const deletes = [...entries.values()].filter((e) => e.row === null).map((e) => e.key);
        if (deletes.length > 0) await client.query(t.deleteKeys, t.table.primaryKey.map((_, i) => deletes.map((k) => k[i]!)));
        if (upserts.length > 0) await client.query(t.upsertRows, [`[${upserts.join(',')}]`]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
  // Replaying again is harmless (each key ends in its last state), so deleting after is enough.
  await deleteLog(source, [...apply.map((e) => e.id), ...skip]);
  return { applied: apply.length, read: apply.length + skip.length };
}

/** Row count and hash sum of a range, per table. */
export type Checksums = Record<string, { n: number; h: string }>;

/** Row count and hash sum of the range on `db`, per table. */
export async function checksums(db: Pool, s: MoveScope): Promise<Checksums> {
  const out: Checksums = {};
  for (const t of s.tables) {
    const { rows } = await db.query<{ n: string; h: string }>(t.checksum, [s.lo, s.hi]);
    out[t.table.name] = { n: Number(rows[0]!.n), h: rows[0]!.h };
  }
  return out;
}

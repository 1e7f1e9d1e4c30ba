import { isCluster, type RedisClient as Redis } from '../../redis/connections.ts';
import type { Catalog } from '../../catalog/types.ts';
import { isCacheable, rowKeys } from './keys.ts';
import { lsnKeyOf } from './lsn.ts';
import { WRITE_THROUGH, WRITE_THROUGH_NODE } from './scripts.ts';
import { byNode, perSlot } from '../../redis/slots.ts';
import { DEFAULT_TTLS, entryFor, fenceFor, type CacheTtls, type EntryWrite } from './store.ts';

/** One row a committed transaction wrote. */
export interface WriteThroughRow {
  /** Table name as the API knows it (a key of the catalog). */
  table: string;
  /**
   * Primary-key values in key-column order, as Postgres prints `col::text`
   * (the same text the gateway's validator produces for a URL key).
   */
  key: readonly string[];
  /**
   * The row after the commit: prefer the JSON text of `row_to_json(t)` (what
   * the read path caches, exact for int8 and numeric); an object is
   * JSON-stringified. `null` = deleted: a tombstone.
   */
  row: Record<string, unknown> | string | null;
}

/** Options of `writeThrough`. */
export interface WriteThroughOptions {
  /** Entries per script call at most (calls are pipelined). */
  chunk?: number;
}

const DEFAULT_CHUNK = 256;

type Entry = readonly [key: string, write: EntryWrite];

/**
 * Store `entries` in calls of at most `chunk` entries, returning how many
 * were stored. On one Redis: chunks of WRITE_THROUGH. On a Redis Cluster each
 * row has its own slot, so the entries are grouped by the master serving them
 * (the client's slot map) and each chunk is one WRITE_THROUGH_NODE call on
 * that master. A chunk the node refuses with an error reply (a key not on it
 * any more: a failover or a slot move since the map was read) is stored again
 * one call per slot, which ioredis redirects (MOVED, ASK); entries the refused
 * call had already set are set again at the same LSN, which changes nothing.
 * Timeouts and lost connections are not retried here: the caller sees them.
 */
async function runChunks(redis: Redis, entries: readonly Entry[], chunk: number): Promise<number> {
  const calls: Promise<number>[] = [];
  if (!isCluster(redis)) {
    for (let i = 0; i < entries.length; i += chunk) calls.push(storeInOneCall(redis, entries.slice(i, i + chunk)));
  } else {
    for (const group of byNode(redis, entries, (e) => e[0])) {
      for (let i = 0; i < group.length; i += chunk) calls.push(storeOnNode(redis, group.slice(i, i + chunk)));
    }
  }
  return (await Promise.all(calls)).reduce((a, c) => a + c, 0);
}

/** One WRITE_THROUGH call: every entry's key in one slot, or on one Redis. */
async function storeInOneCall(redis: Redis, part: readonly Entry[]): Promise<number> {
  const args: (string | number)[] = [];
  for (const [, w] of part) args.push(w.value, w.ttlMs);
  return Number(await WRITE_THROUGH.run(redis, part.map(([k]) => k), args));
}

/** One WRITE_THROUGH_NODE call for entries of one master; refused: one call per slot. */
async function storeOnNode(redis: Redis, part: readonly Entry[]): Promise<number> {
  if (part.length === 1) return storeInOneCall(redis, part);
  const args: (string | number)[] = [];
  for (const [k, w] of part) args.push(k, w.value, w.ttlMs);
  try {
    return Number(await WRITE_THROUGH_NODE.run(redis, [part[0]![0]], args));
  } catch (err) {
    if (!refusedByRedis(err)) throw err;
    const counts = await perSlot(redis, part, (e) => e[0], async (slot) => {
      const n = await storeInOneCall(redis, slot);
      return slot.map((_, i) => (i === 0 ? n : 0)); // perSlot wants one result per entry
    });
    return counts.reduce((a, c) => a + c, 0);
  }
}

/** An error reply from Redis (ioredis names them `ReplyError`): the node answered and refused. */
function refusedByRedis(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

/**
 * Update the cache after a COMMIT: every row becomes a cache entry stamped
 * with `lsn`, compare-and-set in Lua, so an older fill (a slow read from a
 * lagging replica) never replaces it and it never replaces a newer entry.
 *
 * `lsn` is the batch's consistency token: the end of a WAL message emitted
 * right after COMMIT returned (writer/src/flush/flush.ts `commit`; ≥ the
 * commit record's end, so a replica whose replay position reached it has the
 * commit). Call it for one partition's batches in
 * commit order (the batcher's one flush in flight per partition does that).
 * Rows of tables whose keys the cache cannot canonicalise (`isCacheable`) and
 * of unknown tables are skipped. When a key appears twice, the later row wins.
 * Resolves with the number of entries stored; rejects if Redis fails (the
 * writer logs it: the commit stands, readers with the token go to the database
 * because the entry's LSN is older than their token).
 */
export function writeThrough(
  redis: Redis,
  catalog: Catalog,
  prefix: string,
  rows: readonly WriteThroughRow[],
  lsn: string,
  ttls: CacheTtls = DEFAULT_TTLS,
  options: WriteThroughOptions = {},
): Promise<number> {
  const stamp = lsnKeyOf(lsn);
  const now = Date.now();
  const bodyOf = (r: WriteThroughRow) => (r.row === null ? null : typeof r.row === 'string' ? r.row : JSON.stringify(r.row));
  return storeEntries(redis, catalog, prefix, rows, (r) => entryFor(ttls, stamp, bodyOf(r), true, now), options);
}

/**
 * Mark rows as written at `lsn` without knowing their new value (e.g. a
 * PATCH whose full row the writer did not read back). Readers treat a fence
 * like a miss that needs a source at least as new as `lsn`; a fill from an
 * older replica cannot replace it.
 */
export function fenceKeys(
  redis: Redis,
  catalog: Catalog,
  prefix: string,
  rows: readonly { table: string; key: readonly string[] }[],
  lsn: string,
  ttls: CacheTtls = DEFAULT_TTLS,
  options: WriteThroughOptions = {},
): Promise<number> {
  const stamp = lsnKeyOf(lsn);
  return storeEntries(redis, catalog, prefix, rows, () => fenceFor(ttls, stamp), options);
}

/** One entry per cacheable row (the later of two rows of one key wins, in its position), stored compare-and-set in chunks. */
async function storeEntries<R extends { table: string; key: readonly string[] }>(
  redis: Redis,
  catalog: Catalog,
  prefix: string,
  rows: readonly R[],
  entryOf: (row: R) => EntryWrite,
  options: WriteThroughOptions,
): Promise<number> {
  const byEntry = new Map<string, EntryWrite>();
  for (const r of rows) {
    const table = catalog.get(r.table);
    if (table === undefined || !isCacheable(table)) continue;
    const k = rowKeys(prefix, r.table, r.key).entry;
    byEntry.delete(k); // keep insertion order = last write's position
    byEntry.set(k, entryOf(r));
  }
  if (byEntry.size === 0) return 0;
  return runChunks(redis, [...byEntry], Math.max(1, options.chunk ?? DEFAULT_CHUNK));
}

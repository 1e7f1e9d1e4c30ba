import type { TableInfo } from '../../catalog/types.ts';

/**
 * Redis key names of the read cache. A row's entry and its fill lease share
 * one Redis Cluster hash tag (`{table|key}`), so the Lua scripts that touch
 * both run on one slot, while different rows spread over all slots.
 *
 *   <prefix>:c:{<table>|<key>}    the cached row (see entry.ts)
 *   <prefix>:cl:{<table>|<key>}   the fill lease: a fencing token, with a TTL
 *   <prefix>:c:hot                sorted set of sampled key popularity (warmer)
 *
 * `<key>` is the primary-key values in Postgres text form, each
 * percent-encoded and joined by `,`: the URL spelling, unambiguous for
 * composite keys and for values holding `,` or `|`.
 */

/**
 * The cache prefix of a shard's rows. The first shard keeps SLUICE_QUEUE_PREFIX
 * (a single-shard Sluice's keys are unchanged); another shard's rows live under
 * `<prefix>:<shard>`. An entry's LSN is a WAL position of the shard it was read
 * from, comparable only with that shard's tokens and commits, so a row that
 * moves to another shard starts afresh in that shard's namespace.
 */
export function cachePrefixOf(prefix: string, shard: string, firstShard: string): string {
  return shard === firstShard ? prefix : `${prefix}:${shard}`;
}

/** The Redis keys of one cached row. */
export interface RowKeys {
  /** Cached row (or tombstone, or fence). */
  readonly entry: string;
  /** Fill lease of that row. */
  readonly lease: string;
  /** `<table>|<key>`: the row's id, also its member in the popularity set. */
  readonly id: string;
}

/** `<table>|<key>` of a row (see the module comment). */
export function rowId(table: string, key: readonly string[]): string {
  let s = table + '|';
  for (let i = 0; i < key.length; i++) s += (i === 0 ? '' : ',') + encodeURIComponent(key[i]!);
  return s;
}

/** Table and key of a `rowId`; null when `id` is not one. */
export function parseRowId(id: string): { table: string; key: string[] } | null {
  const bar = id.lastIndexOf('|');
  if (bar <= 0) return null;
  try {
    return { table: id.slice(0, bar), key: id.slice(bar + 1).split(',').map(decodeURIComponent) };
  } catch {
    return null;
  }
}

/** Keys of the row `(table, key)` under `prefix` (SLUICE_QUEUE_PREFIX). */
export function rowKeys(prefix: string, table: string, key: readonly string[]): RowKeys {
  return keysOfId(prefix, rowId(table, key));
}

/** Keys of a row by its `rowId`. */
export function keysOfId(prefix: string, id: string): RowKeys {
  return { entry: `${prefix}:c:{${id}}`, lease: `${prefix}:cl:{${id}}`, id };
}

/** The popularity sorted set the gateways feed and the warmer reads. */
export function hotKeysKey(prefix: string): string {
  return `${prefix}:c:hot`;
}

/** Lock that makes one warmer (of several) decay the popularity scores per period. */
export function decayLockKey(prefix: string): string {
  return `${prefix}:c:hot-decay`;
}

// Types whose key text the gateway canonicalises (shared/src/catalog/validate.ts)
// exactly as Postgres prints `col::text`: one row ⇔ one spelling ⇔ one cache key.
const CANONICAL_KINDS = new Set(['int2', 'int4', 'int8', 'uuid', 'bool']);
// text and varchar compare byte-wise; citext (case-insensitive) and char(n)
// (blank-padded) would let two spellings name one row, and a write-through to
// one spelling would leave the other stale.
const CANONICAL_TEXT = new Set(['text', 'character varying']);

/**
 * May rows of `table` be cached by key? Only when every primary-key column has
 * exactly one text spelling per value; other tables are read from the
 * database every time (correct, just slower).
 */
export function isCacheable(table: TableInfo): boolean {
  return table.primaryKey.every((c) => CANONICAL_KINDS.has(c.kind) || (c.kind === 'text' && CANONICAL_TEXT.has(c.castType)));
}

import type { TableInfo } from '@sluice/shared/catalog/types.ts';

/**
 * The SQL that moves a key range of one sharded table between shards, built
 * once per table from the catalog (identifiers quoted at introspection; keys
 * travel as text arrays and are cast in SQL, as the write path does). Bounds
 * `lo`/`hi` are bigint parameters, NULL for unbounded.
 */
export interface RangeSql {
  readonly table: TableInfo;
  /** `$1` move id, `$2` table name, `$3…` one text[] per key column → one log row per key: the row as it is now (NULL: gone). */
  readonly logRows: string;
  /** `$1` json array of rows → upserted (every column but computed ones; identity values kept). */
  readonly upsertRows: string;
  /** COPY of the range out of the source (binary; COPY takes no parameters: the bounds are checked integers). */
  copyOut(lo: number | null, hi: number | null): string;
  /** COPY into the target, the same columns (identity values kept, as COPY always does). */
  readonly copyIn: string;
  /** `$1…` one text[] per key column → those rows deleted. */
  readonly deleteKeys: string;
  /** `$1` lo, `$2` hi → `{ n, h }`: row count and an order-independent sum of row hashes. */
  readonly checksum: string;
  /** `$1` lo, `$2` hi, `$3` limit → up to limit rows of the range deleted. */
  readonly deleteChunk: string;
}

/** `col` within [lo, hi) with the bounds spelled out (for COPY); only safe integers get here. */
function literalRange(col: string, lo: number | null, hi: number | null): string {
  for (const b of [lo, hi]) if (b !== null && !Number.isSafeInteger(b)) throw new Error(`a range bound must be an integer, not ${b}`);
  return [lo === null ? 'true' : `${col} >= ${lo}`, hi === null ? 'true' : `${col} < ${hi}`].join(' AND ');
}

const inRange = (col: string) => `($1::bigint IS NULL OR ${col} >= $1) AND ($2::bigint IS NULL OR ${col} < $2)`;

/**
 * A 64-bit hash of a row, summed over the range (order-independent) by the
 * checksum. `hash_record_extended` hashes the values with their types' own
 * hash functions, the portable ones hash partitioning relies on, about five
 * times faster than md5 of the row's JSON; it runs while the range's writes
 * are paused, so that matters. Shards run one Postgres major version. A
 * table with a column type that has no hash function (json, geometric
 * types) falls back to md5 of the row's text.
 */
function rowHash(table: TableInfo): string {
  const hashable = table.columns.every((c) => c.kind !== 'unsupported' && c.castType !== 'json');
  return hashable ? 'hash_record_extended(t.*, 0)' : `('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint`;
}

/** Build the statements of `table`, sharded by `shardColumn`. */
export function rangeSql(table: TableInfo, shardColumn: string): RangeSql {
  const q = table.qualified;
  const pk = table.primaryKey;
  const shard = `t.${table.byName.get(shardColumn)!.quoted}`;
  const ks = pk.map((_, i) => `k${i}`);
  const keyMatch = pk.map((c, i) => `t.${c.quoted} = k.${ks[i]}::${c.castType}`).join(' AND ');
  const cols = table.columns.filter((c) => !c.computed);
  const colList = cols.map((c) => c.quoted).join(', ');
  const pkNames = new Set(pk.map((c) => c.name));
  const updates = cols.filter((c) => !pkNames.has(c.name)).map((c) => `${c.quoted} = EXCLUDED.${c.quoted}`);
  return {
    table,
    logRows: `INSERT INTO sluice.move_log (move_id, tbl, key, row)
SELECT $1, $2, ARRAY[${ks.map((k) => `k.${k}`).join(', ')}], (SELECT row_to_json(t)::text FROM ${q} t WHERE ${keyMatch})
  FROM unnest(${pk.map((_, i) => `$${3 + i}::text[]`).join(', ')}) AS k(${ks.join(', ')})`,
    upsertRows: `INSERT INTO ${q} AS t (${colList}) OVERRIDING SYSTEM VALUE
SELECT ${colList} FROM json_populate_recordset(NULL::${q}, $1::json)
ON CONFLICT (${pk.map((c) => c.quoted).join(', ')}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`,
    deleteKeys: `DELETE FROM ${q} t USING unnest(${pk.map((_, i) => `$${1 + i}::text[]`).join(', ')}) AS k(${ks.join(', ')}) WHERE ${keyMatch}`,
    copyOut: (lo, hi) => `COPY (SELECT ${colList} FROM ${q} t WHERE ${literalRange(shard, lo, hi)}) TO STDOUT (FORMAT binary)`,
    copyIn: `COPY ${q} (${colList}) FROM STDIN (FORMAT binary)`,
    checksum: `SELECT count(*)::bigint AS n, coalesce(sum(${rowHash(table)}::numeric), 0)::text AS h FROM ${q} t WHERE ${inRange(shard)}`,
    deleteChunk: `DELETE FROM ${q} WHERE ctid IN (SELECT t.ctid FROM ${q} t WHERE ${inRange(shard)} LIMIT $3)`,
  };
}

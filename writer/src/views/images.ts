import type { ColumnInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteOp, WriteRequest } from '@sluice/shared/queue/contract.ts';

/**
 * Which rows of a batch need before/after images (read by key) and which
 * plain inserts can count their own values instead.
 *
 * Every op but a plain insert names a row by key (update/delete) or carries
 * it (upsert/insert-ignore: every key column is required): those are imaged.
 * A plain insert that committed made a new row with its own values, unless
 * another op of the same batch changed that row afterwards: only then is it
 * imaged too (the images see the net effect). "The same row" is decided on
 * a canonical key text (integers without sign or leading zeros, uuids in
 * lower case, text as is); when some key has no canonical text we know of
 * (a type we do not normalise, an unusual spelling), every insert carrying
 * its key is imaged, as reading is always exact, only dearer.
 */

/** The image plan of one table in one batch. */
export interface ImagePlan {
  /** Key text arrays of the rows the keyed ops name (one array per key column): read before and after the statements. */
  keys: string[][];
  /** Whether this plain insert, once applied, is read after the statements (no before-image: it made a new row) rather than counted by its values. */
  imaged(op: WriteOp): boolean;
}

const INT = /^[+-]?\d+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The canonical text of one key value, or null when we do not know it. */
function canonical(col: ColumnInfo, value: string): string | null {
  switch (col.kind) {
    case 'int2':
    case 'int4':
    case 'int8':
      return INT.test(value) ? BigInt(value).toString() : null;
    case 'uuid':
      return UUID.test(value) ? value.toLowerCase() : null;
    case 'text':
      // char(n) compares without trailing blanks: not as is.
      return col.castType === 'text' || col.castType === 'character varying' ? value : null;
    default:
      return null;
  }
}

/** The key an op names or carries (null when incomplete). */
export function keyOf(op: WriteOp, pk: readonly ColumnInfo[]): string[] | null {
  const key = op.key ?? (op.row ? pk.map((c) => op.row![c.name] ?? null) : null);
  return key === null || key.some((k) => k === null || k === undefined) ? null : (key as string[]);
}

function canonicalKey(key: readonly string[], pk: readonly ColumnInfo[]): string | null {
  const parts: string[] = [];
  for (let i = 0; i < pk.length; i++) {
    const c = canonical(pk[i]!, key[i]!);
    if (c === null) return null;
    parts.push(c);
  }
  // NUL cannot occur in Postgres text: a safe separator.
  return parts.join('\u0000');
}

/** The plan for `table` over the requests of the batch; null when no op of it needs images. */
export function imagePlan(reqs: readonly WriteRequest[], table: string, pk: readonly ColumnInfo[]): ImagePlan | null {
  const keyed = new Set<string>();
  let everyInsert = false;
  const keys: string[][] = pk.map(() => []);
  for (const r of reqs) {
    for (const o of r.ops) {
      if (o.t !== table || o.op === 'insert') continue;
      const key = keyOf(o, pk);
      if (key === null) continue;
      const c = canonicalKey(key, pk);
      if (c === null) everyInsert = true;
      else keyed.add(c);
      key.forEach((k, i) => keys[i]!.push(k));
    }
  }
  if (keys[0]!.length === 0) return null;
  const imaged = (o: WriteOp): boolean => {
    const key = keyOf(o, pk);
    if (key === null) return false;
    if (everyInsert) return true;
    const c = canonicalKey(key, pk);
    return c === null || keyed.has(c);
  };
  return { keys, imaged };
}

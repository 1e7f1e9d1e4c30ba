import type { WriteOp } from '../queue/contract.ts';
import type { TableInfo } from './types.ts';

/**
 * The primary-key values an op writes, in key-column order, or null when the
 * row has no complete key (insert with a generated primary key).
 */
export function keyValuesOf(table: TableInfo, op: WriteOp): string[] | null {
  let values: readonly (string | null | undefined)[];
  if (op.op === 'update' || op.op === 'delete') {
    values = op.key ?? [];
  } else {
    const row = op.row ?? {};
    values = table.primaryKey.map((c) => row[c.name]);
  }
  if (values.length !== table.primaryKey.length) return null;
  for (const v of values) if (v === undefined || v === null) return null;
  return values as string[];
}

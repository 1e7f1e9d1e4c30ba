import { ValidationError } from '@sluice/shared/errors/index.ts';
import type { TableInfo } from '@sluice/shared/catalog/types.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import type { Ctx } from '../../context.ts';

/**
 * The shard key of an update or delete whose primary key does not hold it
 * (topology/router.ts): given beside the key, as `?user_id=eq.7` on the URL
 * or `"row": {"user_id": 7}` in a batch delete. It rides in the op's `row`:
 * an update sets it to the value it has (the writer matches only a row
 * holding it), a delete ignores `row` (a row elsewhere is not on this shard).
 */

const INTEGER = /^-?\d{1,19}$/;

/** The value text of a shard key, or a 400 naming where it came from. */
export function shardKeyText(table: TableInfo, column: string, raw: unknown, pointer: string): string {
  const text = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : typeof raw === 'string' ? raw : '';
  const col = table.byName.get(column)!;
  const max = col.kind === 'int2' ? 2n ** 15n : col.kind === 'int4' ? 2n ** 31n : 2n ** 63n;
  if (!INTEGER.test(text) || BigInt(text) >= max || BigInt(text) < -max) {
    throw new ValidationError(`${table.name} is sharded by ${column}: give it as an integer`, [{ pointer, detail: `expected an integer (${col.type})` }]);
  }
  return text;
}

/** `op` with the shard key of `?<column>=eq.<value>` added (when the table is sharded and the op lacks it). */
export function withShardKeyParam(c: Ctx, table: TableInfo, column: string | undefined, op: WriteOp): WriteOp {
  if (column === undefined || op.row?.[column] !== undefined || table.primaryKey.some((k) => k.name === column)) return op;
  const param = new URL(c.req.url).searchParams.get(column);
  if (param === null) return op; // routing answers the 400, naming the column
  if (!param.startsWith('eq.')) throw new ValidationError(`give the shard key as ${column}=eq.<value>`, [{ pointer: `/${column}`, detail: 'expected eq.<integer>' }]);
  return { ...op, row: { ...(op.row ?? {}), [column]: shardKeyText(table, column, param.slice(3), `/${column}`) } };
}

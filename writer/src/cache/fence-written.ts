import { cacheTtlsOf, fenceKeys } from '@sluice/shared/cache/index.ts';
import type { Catalog, TableInfo } from '@sluice/shared/catalog/types.ts';
import type { Config } from '@sluice/shared/config/index.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { WriteOp } from '@sluice/shared/queue/contract.ts';
import type { Redis } from '@sluice/shared/redis/index.ts';
import type { AddressedOutcome, BatchJob } from '../flush/types.ts';

/**
 * After a batch commits, fence the cache entries of every row it wrote at
 * the commit's LSN (compare-and-set in Lua, shared/src/cache): an entry or a
 * slow fill older than the commit can no longer be served, and the next
 * read loads the new row from a source at least that new. Fencing rather
 * than writing the new value keeps the flush statements free of RETURNING
 * whole rows; the cost is one cache miss per written hot key.
 *
 * Keys of dead-lettered requests are fenced too: harmless (one extra miss).
 * An insert whose key Postgres generated and nobody asked for cannot be
 * named; a negative entry for that key lives at most SLUICE_NEGATIVE_TTL_S,
 * and a read with the write's consistency token skips it (its LSN is older).
 */
export class CacheFencer {
  private readonly ttls;
  constructor(
    private readonly redis: Redis,
    private readonly catalog: Catalog,
    private readonly config: Readonly<Config>,
    private readonly log: Logger,
  ) {
    this.ttls = cacheTtlsOf(config);
  }

  /** Fence what `jobs` wrote at `lsn`. Never throws: a failed fence is logged (RYW reads do not depend on it). */
  async fence(jobs: readonly BatchJob[], acks: readonly AddressedOutcome[], lsn: string): Promise<void> {
    const rows = keysWritten(this.catalog, jobs, acks);
    if (rows.length === 0) return;
    try {
      await fenceKeys(this.redis, this.catalog, this.config.SLUICE_QUEUE_PREFIX, rows, lsn, this.ttls);
    } catch (err) {
      this.log.warn({ err, keys: rows.length }, 'cache fence after commit failed; cached rows may be served until their soft TTL');
    }
  }
}

function keyOfOp(table: TableInfo, op: WriteOp): string[] | null {
  if (op.key) return op.key;
  const row = op.row;
  if (!row) return null;
  const key: string[] = [];
  for (const c of table.primaryKey) {
    const v = row[c.name];
    if (v === undefined || v === null) return null;
    key.push(v);
  }
  return key;
}

/** Every (table, key) a batch wrote: keys named in the ops, plus keys Postgres generated and returned. */
export function keysWritten(catalog: Catalog, jobs: readonly BatchJob[], acks: readonly AddressedOutcome[]): { table: string; key: string[] }[] {
  const out: { table: string; key: string[] }[] = [];
  const opsById = new Map<string, WriteOp[]>();
  for (const job of jobs) {
    for (const req of job.data.reqs) {
      opsById.set(req.id, req.ops);
      for (const op of req.ops) {
        const table = catalog.get(op.t);
        const key = table && keyOfOp(table, op);
        if (key) out.push({ table: op.t, key });
      }
    }
  }
  for (const { outcome } of acks) {
    if (outcome.s !== 'committed' || !outcome.keys) continue;
    const ops = opsById.get(outcome.id) ?? [];
    outcome.keys.forEach((k, i) => {
      const op = ops[i];
      const table = op && catalog.get(op.t);
      if (!k || !table) return;
      out.push({ table: op.t, key: table.primaryKey.map((c) => String(k[c.name])) });
    });
  }
  return out;
}

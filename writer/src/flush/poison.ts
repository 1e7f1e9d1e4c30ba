import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { PoolClient } from '@sluice/shared/db/pool.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import { applyRequests } from './apply.ts';
import { classify } from './classify.ts';
import type { StatementCache } from './sql.ts';
import type { RequestResult } from './types.ts';

/**
 * Poison isolation. After a batch failed with a data error (22xxx, 23xxx,
 * 42xxx…) the caller rolls back and runs this in a NEW transaction: the
 * requests are applied in halves, each under a SAVEPOINT; a half that fails
 * with a poison error is rolled back to its savepoint and split again, until
 * single requests remain — a request that fails on its own, after every
 * request before it was applied, is the guilty one. A request is atomic: its
 * ops are never split. The left half always runs before the right half, so
 * per-key order (and any order a constraint depends on) is the queue order.
 *
 * Cost: about 2·k·log2(n) savepoint runs for k bad requests among n. The
 * other way, a savepoint per request (`isolation: 'each'`), always costs n
 * savepoint runs of one request each; `pnpm bench poison` measures both on
 * 1 bad request in 1,000 (bisection wins: see the README's figures).
 */

/** How the guilty requests are found: halving ranges, or one savepoint per request. */
export type Isolation = 'bisect' | 'each';

const SAVEPOINT = 'SAVEPOINT sluice_bisect';
const ROLLBACK_TO = 'ROLLBACK TO SAVEPOINT sluice_bisect';
const RELEASE = 'RELEASE SAVEPOINT sluice_bisect';

/** Outcome of a bisection: results of the applied requests and the guilty ones with their errors. */
export interface Bisection {
  /** Aligned with the input; undefined for guilty requests. */
  results: (RequestResult | undefined)[];
  rows: number;
  guilty: { index: number; err: unknown }[];
}

/**
 * Apply `reqs` in one transaction, isolating the requests that fail on their
 * own. Errors that are not poison (a lost connection, a deadlock) propagate:
 * the whole batch is then retried.
 */
export async function bisectRequests(
  db: PoolClient,
  catalog: Catalog,
  cache: StatementCache,
  reqs: readonly WriteRequest[],
  /** Which errors a lone request is blamed for (default: poison only; see `FlushOptions.isolateFatal`). */
  isGuilty: (err: unknown) => boolean = (err) => classify(err) === 'poison',
  isolation: Isolation = 'bisect',
): Promise<Bisection> {
  const out: Bisection = { results: new Array(reqs.length).fill(undefined), rows: 0, guilty: [] };
  // Iterative depth-first over [lo, hi) ranges, left before right (popped from the end).
  const stack: [number, number][] = isolation === 'bisect' ? [[0, reqs.length]] : reqs.map((_, i) => [i, i + 1] as [number, number]).reverse();
  while (stack.length > 0) {
    const [lo, hi] = stack.pop()!;
    if (hi <= lo) continue;
    await db.query(SAVEPOINT);
    try {
      const applied = await applyRequests(db, catalog, cache, reqs.slice(lo, hi));
      await db.query(RELEASE);
      applied.results.forEach((r, i) => (out.results[lo + i] = r));
      out.rows += applied.rows;
    } catch (err) {
      if (!isGuilty(err)) throw err;
      await db.query(ROLLBACK_TO);
      await db.query(RELEASE);
      if (hi - lo === 1) {
        out.guilty.push({ index: lo, err });
      } else {
        const mid = (lo + hi) >>> 1;
        stack.push([mid, hi], [lo, mid]); // left half popped (run) first
      }
    }
  }
  return out;
}

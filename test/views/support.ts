import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FlushContext } from '@sluice/writer/flush/flush.ts';
import { ensureView, verifyView } from '@sluice/writer/views/build.ts';
import { loadViews } from '@sluice/writer/views/load.ts';
import { ViewMaintainer, type MaintainedView } from '@sluice/writer/views/maintainer.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { FailPoints } from '@sluice/shared/lifecycle/failpoints.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import { quiet } from '../writer/helpers.ts';

type Pool = FlushContext['pool'];

/**
 * A writer's flush context over `tables` with the views `sql` (name → definition)
 * maintained in its batches, as the writer wires them: the files are written
 * to a directory and loaded the way SLUICE_VIEWS_DIR is. `build`: create and
 * fill the views now (otherwise the test does, e.g. while batches commit).
 */
export async function maintainedViews(pool: Pool, tables: string[], sql: Record<string, string>, build: boolean): Promise<{ ctx: FlushContext; views: MaintainedView[] }> {
  const catalog = await introspectCatalog(pool, tables);
  const dir = mkdtempSync(join(tmpdir(), 'views-'));
  for (const [n, text] of Object.entries(sql)) writeFileSync(join(dir, `${n}.sql`), text);
  const views = await loadViews(dir, catalog, pool);
  const m = new ViewMaintainer(views);
  const ctx: FlushContext = { pool, catalog, cache: new StatementCache(), failpoints: new FailPoints([]), log: quiet, beforeStatements: [m.before], inTransaction: [m.inTransaction] };
  if (build) for (const v of views) await ensureView(pool, v, quiet);
  return { ctx, views };
}

/** A seeded PRNG so a failure can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
}

/** Every view equals a fresh `SELECT … GROUP BY` (verify reports no differing group). */
export async function expectExact(pool: Pool, views: readonly MaintainedView[]): Promise<void> {
  for (const v of views) expect({ view: v.bound.name, diff: await verifyView(pool, v) }).toEqual({ view: v.bound.name, diff: [] });
}

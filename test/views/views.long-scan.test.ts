/**
 * Regression: a read model over a table whose full scan outlasts the pool's
 * client-side `query_timeout` (about 1.5 × SLUICE_STATEMENT_TIMEOUT_MS, for a
 * frozen server) could never be built, rebuilt or verified: the scan failed
 * with "Query read timeout" although it ran with `statement_timeout = 0`.
 * The scans now run with their own bound (shared/src/db/pool.ts longQuery).
 * Here the pool's bound is 300 ms and the scans take longer (about 500 ms on a
 * quiet machine: a 500 ms bound let a fast run miss the point of the test).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { rebuildView } from '@sluice/shared/views/rebuild.ts';
import { ensureView, verifyView } from '@sluice/writer/views/build.ts';
import { loadViews } from '@sluice/writer/views/load.ts';
import { createTestEnv, type TestEnv } from '../harness/index.ts';
import { quiet } from '../writer/helpers.ts';

const SCHEMA = `
CREATE TABLE ev (id bigint PRIMARY KEY, user_id int NOT NULL, amount numeric);
INSERT INTO ev SELECT g, g % 5000, g % 77 FROM generate_series(1, 2000000) g;
ALTER TABLE ev SET (parallel_workers = 0);
ANALYZE ev;`;

let env: TestEnv;
let pool: Pool;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
  pool = createPool({ url: env.databaseUrl, max: 2, connectTimeoutMs: 10_000, statementTimeoutMs: 5000, queryTimeoutMs: 300, applicationName: 'views-long-scan', log: quiet });
}, 300_000);
afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

describe('a view over a table whose scan outlasts the client-side query timeout', () => {
  it('is built, rebuilt and verified', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'views-long-'));
    writeFileSync(join(dir, 'user_stats.sql'), 'select user_id, count(*) as n, sum(amount) as total, max(amount) as hi from ev group by user_id');
    const [v] = await loadViews(dir, await introspectCatalog(pool, ['ev']), pool);
    const t0 = performance.now();
    expect(await ensureView(pool, v!, quiet)).toMatchObject({ state: 'built', rows: 5000 });
    // The point of the test: the scan took longer than the pool's 300 ms bound.
    expect(performance.now() - t0).toBeGreaterThan(300);
    expect(await rebuildView(pool, v!.bound)).toMatchObject({ rows: 5000 });
    expect(await verifyView(pool, v!)).toEqual([]);
  }, 300_000);
});

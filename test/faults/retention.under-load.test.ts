/**
 * Issue 11, finding 3 (RELIABILITY row 33, the Postgres half): the writers
 * remove `sluice.applied_jobs` and `sluice.idempotency_keys` rows past
 * SLUICE_DEDUPE_RETENTION_S while a load runs, in batches, without hurting
 * it: the set checker finds every acknowledged write exactly once and in
 * order, and rows inside the window stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;
const RETENTION = { SLUICE_DEDUPE_RETENTION_S: '60', SLUICE_IDEMPOTENCY_TTL_S: '60', SLUICE_RETENTION_INTERVAL_MS: '200', SLUICE_RETENTION_BATCH_ROWS: '1000' };

beforeAll(async () => {
  cluster = await startCluster({ env: RETENTION });
  gateway = await cluster.startGateway();
});
afterAll(async () => cluster?.stop());

const scalar = async (sql: string) => Number((await cluster.pool.query<{ n: string }>(sql)).rows[0]!.n);

describe('row 33: dedupe retention under load', () => {
  it('removes records past the window while writes flow; nothing acknowledged is lost or applied twice', { timeout: 240_000 }, async () => {
    // A day of history at a modest rate: 50 k applied jobs and 20 k keys, all past the window; 500 keys inside it.
    await cluster.pool.query(`INSERT INTO sluice.applied_jobs (job_id, requests, applied_at)
      SELECT 'old.' || g, 20, now() - interval '1 day' - make_interval(secs => g) FROM generate_series(1, 50000) g`);
    await cluster.pool.query(`INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id, created_at)
      SELECT 'w', 'old.' || g, 'h', 'old.' || g || '.0', now() - interval '1 day' FROM generate_series(1, 20000) g`);
    await cluster.pool.query(`INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id, created_at)
      SELECT 'w', 'young.' || g, 'h', 'young.' || g || '.0', now() FROM generate_series(1, 500) g`);

    const load = startLoad({ urls: [gateway.url], clients: 8, paceMs: 2, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(200), 30_000);
    const writers = [await cluster.startWriter('writer-a', RETENTION), await cluster.startWriter('writer-b', RETENTION)];

    await eventually(async () => {
      expect(await scalar(`SELECT count(*) AS n FROM sluice.applied_jobs WHERE job_id LIKE 'old.%'`)).toBe(0);
      expect(await scalar(`SELECT count(*) AS n FROM sluice.idempotency_keys WHERE key LIKE 'old.%'`)).toBe(0);
    }, 60_000);
    // Removed while the load ran: it keeps being acknowledged afterwards.
    const ackedAtRemoval = load.acknowledged;
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(ackedAtRemoval + 200), 30_000);
    const history = await load.stop();

    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    // Inside the window: kept (the load's own jobs and the young keys).
    expect(await scalar(`SELECT count(*) AS n FROM sluice.idempotency_keys WHERE key LIKE 'young.%'`)).toBe(500);
    expect(await scalar(`SELECT coalesce(sum(requests), 0) AS n FROM sluice.applied_jobs`)).toBeGreaterThanOrEqual(verdict.committed);
    for (const w of writers) expect(await w.stop(30_000)).toBe(0);
    console.info(`[row 33] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

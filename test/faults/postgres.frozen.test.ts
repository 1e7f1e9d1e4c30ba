/**
 * RELIABILITY row 10: Postgres frozen (SIGSTOP of the postmaster and every
 * backend). A frozen server never fires its own statement_timeout, so the
 * writer's pool bounds each query on the client (`query_timeout`), drops the
 * stuck connection and retries the batch with backoff. The writer keeps its
 * BullMQ job locks meanwhile (no job stalls or moves to another writer), and
 * after SIGCONT every acknowledged write is committed exactly once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound, logged } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  // statement_timeout 1 s → client-side query timeout 2 s (shared/src/db `queryTimeoutFor`).
  cluster = await startCluster({ env: { SLUICE_STATEMENT_TIMEOUT_MS: '1000', SLUICE_PG_CONNECT_TIMEOUT_MS: '1000' } });
  gateway = await cluster.startGateway();
});
afterAll(async () => cluster?.stop());

describe('row 10: Postgres frozen (SIGSTOP)', () => {
  it('times the stuck batch out on the client, keeps the job locks, retries, and applies everything once', async () => {
    const writer = await cluster.startWriter();
    const load = startLoad({ urls: [gateway.url], clients: 10, paceMs: 5, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(150), 30_000);

    cluster.signalPostgres('SIGSTOP');
    try {
      // The client-side timeout fires (the server's statement_timeout cannot) and the batch is retried.
      await eventually(() => expect(writer.output()).toMatch(/Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout/), 15_000);
      await eventually(() => expect(logged(writer.output(), 'batch failed; retrying the same batch')).toBe(true), 15_000);
    } finally {
      cluster.signalPostgres('SIGCONT');
    }
    const acked = load.acknowledged;
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(acked + 200), 30_000);
    const verdict = await drainAndCheck(cluster, await load.stop());
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);
    // The partition stayed with its writer: no job lock lapsed, nothing was redelivered.
    expect(await cluster.queueEvents('stalled')).toBe(0);
    expect(writer.child.exitCode).toBeNull();
    console.info(`[row 10] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

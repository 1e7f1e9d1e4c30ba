/**
 * RELIABILITY row 9: the Postgres primary stopped with `pg_ctl stop -m
 * immediate` (a crash: no checkpoint, sessions cut) while a batch is open,
 * then started again. The writer retries the batch with backoff on its own
 * pool, which recovers without a restart; each write is applied once. And a
 * writer told to stop during the outage does not retry forever: it gives up
 * within its drain bound and its jobs go to the next writer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound, logged } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster();
  gateway = await cluster.startGateway();
});
afterEach(async () => {
  await cluster.pg.start(); // no-op when it runs
  await Promise.all(cluster.procs.filter((p) => p !== gateway.proc).map((p) => p.stop()));
});
afterAll(async () => cluster?.stop());

/** Writer sessions inside a transaction (a fail point holds each batch before COMMIT). */
async function writerInTransaction(): Promise<void> {
  const { rows } = await cluster.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'sluice-writer-main' AND xact_start IS NOT NULL`);
  expect(rows[0]!.n).toBeGreaterThan(0);
}

describe('row 9: Postgres immediate stop mid-batch, then start', () => {
  it('retries the batch with backoff, applies each write once, and the pool recovers without a restart', async () => {
    await cluster.reset();
    // Each batch waits 100 ms before COMMIT, so the stop lands inside an open transaction.
    const writer = await cluster.startWriter('writer', { SLUICE_FAILPOINTS: 'before-commit=100' });
    const load = startLoad({ urls: [gateway.url], clients: 10, paceMs: 5, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(150), 30_000);
    await eventually(writerInTransaction);

    await cluster.pg.stopImmediate();
    await eventually(() => expect(logged(writer.output(), 'batch failed; retrying the same batch')).toBe(true), 10_000);
    const ackedWhileDown = load.acknowledged;
    // `queued` writes are still acknowledged: they wait in Redis.
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(ackedWhileDown + 50), 20_000);
    await cluster.pg.start();

    await eventually(() => expect(load.acknowledged).toBeGreaterThan(ackedWhileDown + 300), 30_000);
    const verdict = await drainAndCheck(cluster, await load.stop());
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);
    expect(writer.child.exitCode, 'the writer survived the restart').toBeNull();
    console.info(`[row 9] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });

  it('a writer stopped during the outage gives up within its drain bound; the next writer commits its jobs', async () => {
    await cluster.reset();
    const writer = await cluster.startWriter('writer', { SLUICE_FAILPOINTS: 'before-commit=100' });
    const load = startLoad({ urls: [gateway.url], clients: 6, opsPerClient: 40, ackOf: () => 'queued' });
    await eventually(writerInTransaction, 20_000);
    await cluster.pg.stopImmediate();
    const history = await load.done();

    const t0 = performance.now();
    const code = await writer.stop(60_000); // SIGTERM: drain, which cannot commit
    const tookMs = performance.now() - t0;
    expect(code).toBe(1);
    expect(logged(writer.output(), 'drain overran: open batches are left for redelivery after their locks lapse')).toBe(true);
    // The bound is 2 × SLUICE_LOCK_DURATION_MS (2 s here) plus process exit.
    expect(tookMs).toBeLessThan(4000 + 3000);

    await cluster.pg.start();
    await cluster.startWriter('successor');
    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    console.info(`[row 9 stop] ${JSON.stringify({ stopMs: Math.round(tookMs), acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  });
});

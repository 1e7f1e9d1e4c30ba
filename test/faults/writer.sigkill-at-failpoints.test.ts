/**
 * RELIABILITY rows 1 and 2: a writer SIGKILLed inside its transaction (after
 * BEGIN, or with every statement run just before COMMIT), and after COMMIT
 * but before BullMQ marked the jobs done. A fail point holds the writer in
 * the window while clients keep writing; then it is killed and a new writer
 * starts. Row 1: Postgres rolls the open transaction back and the jobs are
 * redelivered. Row 2: the batch is committed, the jobs are redelivered anyway,
 * and the dedupe rows written in that same transaction make the new writer
 * skip them. Either way the set checker finds every acknowledged write
 * committed exactly once, in per-key order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { drainAndCheck, expectSound, logged } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';
import { type Verdict } from './support/history.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster();
  gateway = await cluster.startGateway();
});
afterEach(async () => {
  // Leave no writer behind for the next case: two consumers of one partition would void its order check.
  await Promise.all(cluster.procs.filter((p) => p !== gateway.proc).map((p) => p.stop()));
});
afterAll(async () => cluster?.stop());

async function count(sql: string): Promise<number> {
  return Number((await cluster.pool.query<{ n: string }>(sql)).rows[0]!.n);
}

/** Writer transactions open right now (the held one shows as idle in transaction). */
const openWriterTransactions = () => count(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'sluice-writer-main' AND xact_start IS NOT NULL`);
const appliedRows = () => count('SELECT (SELECT count(*) FROM f_items) + (SELECT count(*) FROM f_key_history) AS n');

interface Run {
  verdict: Verdict;
  /** Rows visible when the writer was killed. */
  rowsAtKill: number;
  /** The successor's `sluice_writer_duplicates_skipped_total{kind="job"}`. */
  skippedJobs: number;
  successorOutput: string;
}

/** Load, hold the writer at `failpoint`, SIGKILL it, start a successor, drain, check. */
async function killAt(failpoint: string): Promise<Run> {
  await cluster.reset();
  const doomed = await cluster.startWriter('writer-a', { SLUICE_FAILPOINTS: failpoint });
  const load = startLoad({ urls: [gateway.url], clients: 8, opsPerClient: 60, timeoutMs: 30_000 });
  await eventually(() => expect(logged(doomed.output(), 'fail point hit')).toBe(true), 20_000);
  // Let acknowledged writes pile up behind the held batch (queued acks keep coming).
  await eventually(() => expect(load.acknowledged).toBeGreaterThan(40), 20_000);
  const rowsAtKill = await appliedRows();
  doomed.kill('SIGKILL');
  await doomed.exited;
  // Postgres sees the socket close and rolls an open transaction back.
  await eventually(async () => expect(await openWriterTransactions()).toBe(0));
  const metricsPort = await freePort();
  const successor = await cluster.startWriter('writer-b', { SLUICE_WRITER_METRICS_PORT: String(metricsPort) });
  const verdict = await drainAndCheck(cluster, await load.done());
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const skippedJobs = Number(/^sluice_writer_duplicates_skipped_total\{kind="job"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
  console.info(`[${failpoint}] ${JSON.stringify({ ...verdict, lost: verdict.lost.length, unexpected: verdict.unexpected.length, duplicates: verdict.duplicates.length, orderViolations: verdict.orderViolations.length, failedButCommitted: verdict.failedButCommitted.length, rowsAtKill, skippedJobs })}`);
  return { verdict, rowsAtKill, skippedJobs, successorOutput: successor.output() };
}

describe('row 1: writer SIGKILL after BEGIN, before COMMIT', () => {
  it.each(['after-begin', 'before-commit'])('rolls back, redelivers, commits every acknowledged write exactly once (held at %s)', async (failpoint) => {
    const run = await killAt(failpoint);
    expect(run.rowsAtKill, 'the held transaction must not be visible').toBe(0);
    expectSound(run.verdict);
    expect(run.verdict.unknown).toBe(0);
    // The held jobs were handed back in order by the successor, not left to BullMQ's scrambled stalled check.
    expect(logged(run.successorOutput, "handed a dead writer's jobs back to the queue, in order")).toBe(true);
  });
});

describe('row 2: writer SIGKILL after COMMIT, before the jobs are marked done', () => {
  it('redelivers the committed jobs and the dedupe record keeps them to one application', async () => {
    const run = await killAt('after-commit');
    expect(run.rowsAtKill, 'a batch committed before the kill').toBeGreaterThan(0);
    expect(run.skippedJobs, 'the successor skipped the redelivered, already applied jobs').toBeGreaterThan(0);
    expectSound(run.verdict);
    expect(run.verdict.unknown).toBe(0);
  });
});

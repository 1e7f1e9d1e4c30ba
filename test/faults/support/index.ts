/** The fault suite's toolkit: a private cluster, a load driver, the set checker. */
import { expect } from 'vitest';
import { eventually } from '../../harness/index.ts';
import type { FaultCluster } from './cluster.ts';
import { check, type History, type Verdict } from './history.ts';


export { FaultCluster, startCluster, FAULT_SQL, FAULT_TABLES, type GatewayProc } from './cluster.ts';
export { History, check, outcomeOf, percentile, type Op, type Outcome, type Verdict } from './history.ts';
export { LoadDriver, startLoad, type LoadOptions } from './load.ts';
export { eventually } from '../../harness/index.ts';

/**
 * Wait until the queues are drained (no job waiting or active) and every
 * acknowledged op is in the database, then run the checker. Failed jobs
 * (given up by the writer) would be stuck writes: none are allowed.
 */
export async function drainAndCheck(cluster: FaultCluster, h: History, timeoutMs = 60_000): Promise<Verdict> {
  await eventually(async () => {
    expect(await cluster.backlog()).toBe(0);
    expect((await check(cluster.checkPools(), h)).lost).toEqual([]);
  }, timeoutMs, 200).catch(async (err: unknown) => {
    // Which partitions are stuck, and in what state: the first thing to know.
    console.error(`[drain] not drained after ${timeoutMs} ms; partitions with a backlog: ${JSON.stringify(await cluster.backlogByPartition())}`);
    throw err;
  });
  const failed = (await cluster.jobCounts()).failed ?? 0;
  expect(failed, `jobs failed through BullMQ: ${failed > 0 ? JSON.stringify(await cluster.failedJobs()) : ''}`).toBe(0);
  return check(cluster.checkPools(), h);
}

/** A writer's output holds a pino line with this `msg`. */
export function logged(output: string, msg: string): boolean {
  return output.includes(`"msg":"${msg}"`);
}

/** The first few entries of a list, for readable failures. */
const head = (xs: string[]) => (xs.length > 10 ? [...xs.slice(0, 10), `… ${xs.length - 10} more`] : xs);

/**
 * Assert the set checker's invariants: nothing acknowledged lost, nothing
 * applied that was never sent, nothing applied twice, per-key order kept;
 * and unless `allowFailedApplied`, nothing the gateway refused was applied.
 */
export function expectSound(v: Verdict, o: { allowFailedApplied?: boolean; preloaded?: (id: string) => boolean } = {}): void {
  expect(v.acknowledged, 'the run acknowledged nothing: it proves nothing').toBeGreaterThan(0);
  expect({
    lost: head(v.lost),
    // Rows a test loaded straight into Postgres are not client ops.
    unexpected: head(o.preloaded === undefined ? v.unexpected : v.unexpected.filter((id) => !o.preloaded!(id))),
    duplicates: head(v.duplicates),
    orderViolations: head(v.orderViolations),
    failedButCommitted: o.allowFailedApplied ? [] : head(v.failedButCommitted),
  }).toEqual({ lost: [], unexpected: [], duplicates: [], orderViolations: [], failedButCommitted: [] });
}


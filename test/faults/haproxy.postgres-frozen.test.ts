/**
 * RELIABILITY row 25 (issue 11, finding 2): the primary frozen (SIGSTOP)
 * behind HAProxy. HAProxy from the Debian package, on the shipped
 * deploy/haproxy.cfg, checks two gateway processes on /livez, which never
 * judges Postgres: both stay in rotation, every write of a small load gets
 * Sluice's 202 (queued in Redis) and no client sees the proxy's own 503 —
 * while the gateways' deep /readyz, the check HAProxy used before, fails.
 * After the thaw the writer applies every acknowledged write exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHaproxy, type Haproxy } from '../deploy/haproxy.ts';
import { drainAndCheck, eventually, expectSound, startCluster, startLoad, type FaultCluster, type GatewayProc } from './support/index.ts';

/** How long Postgres stays frozen: several LB check intervals and readiness timeouts. */
const FREEZE_MS = 8000;

let cluster: FaultCluster;
let gateways: GatewayProc[];
let lb: Haproxy;
let cleanupLb: (() => void) | undefined;

beforeAll(async () => {
  cluster = await startCluster();
  gateways = [await cluster.startGateway({}, 'gateway-a'), await cluster.startGateway({}, 'gateway-b')];
  const servers = gateways.map((g, i) => ({ name: `gateway${i + 1}`, host: '127.0.0.1', port: Number(new URL(g.url).port) }));
  ({ haproxy: lb, cleanup: cleanupLb } = await startHaproxy(servers));
  await eventually(async () => expect(await lb.status()).toEqual({ gateway1: 'UP', gateway2: 'UP' }), 20_000, 100);
});
afterAll(async () => {
  await lb?.stop();
  cleanupLb?.();
  await cluster?.stop();
});

/** Every status HAProxy reported for the gateways while `running()` holds, sampled every 200 ms. */
async function watchRotation(running: () => boolean): Promise<Set<string>> {
  const seen = new Set<string>();
  while (running()) {
    for (const s of Object.values(await lb.status())) seen.add(s);
    await new Promise((r) => setTimeout(r, 200));
  }
  return seen;
}

describe('row 25: primary frozen behind HAProxy', () => {
  it('keeps both gateways in rotation; every write gets 202 from Sluice, none the LB 503; nothing lost after the thaw', async () => {
    await cluster.startWriter();
    const load = startLoad({ urls: [lb.url], clients: 4, paceMs: 20, ackOf: () => 'queued', timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(50), 30_000);

    let frozen = true;
    cluster.signalPostgres('SIGSTOP');
    const rotation = watchRotation(() => frozen);
    try {
      // The deep check fails (Postgres does not answer within its timeout): an LB on /readyz would drop both gateways.
      await eventually(async () => {
        const ready = await fetch(`${gateways[0]!.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as { checks: { postgres: string } }).checks.postgres).not.toBe('ok');
      }, FREEZE_MS);
      const ackedInFreeze = load.acknowledged;
      // The fault's length, not a wait for a condition.
      await new Promise((r) => setTimeout(r, FREEZE_MS));
      expect(load.acknowledged, 'writes kept being acknowledged while Postgres was frozen').toBeGreaterThan(ackedInFreeze + 50);
    } finally {
      frozen = false;
      cluster.signalPostgres('SIGCONT');
    }
    expect([...(await rotation)]).toEqual(['UP']);

    const history = await load.stop();
    const statuses = new Map<number, number>();
    for (const op of history.ops) statuses.set(op.status, (statuses.get(op.status) ?? 0) + 1);
    expect(Object.fromEntries(statuses)).toEqual({ 202: history.ops.length });
    // HAProxy's request log (option httplog): requests answered 202, none 503.
    expect(lb.output()).toMatch(/ gateways\/gateway\d \S+ 202 /);
    expect(lb.output()).not.toMatch(/ 503 /);

    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    expect(verdict.unknown).toBe(0);
    console.info(`[row 25] ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed, freezeMs: FREEZE_MS })}`);
  });
});

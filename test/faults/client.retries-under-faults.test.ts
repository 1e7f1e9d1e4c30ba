/**
 * @sluice/client under faults, judged by the client's own log (set checker,
 * test/faults/support/history.ts): every write the client reported done is
 * in Postgres exactly once, nothing it reported failed is, unknowns are
 * counted and reported. Three faults, one private cluster (Redis with AOF,
 * appendfsync always): (a) Redis SIGKILLed mid-stream and restarted on the
 * same AOF dir; (b) the gateway frozen (SIGSTOP) longer than the client's
 * per-attempt timeout, then thawed; (c) a TCP proxy between client and
 * gateway cutting connections mid-request, both before the request reached
 * the gateway and after it was handled (the answer lost).
 * The client retries with one Idempotency-Key per write and a 40 s deadline:
 * the faults stay invisible to its callers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientLoad, type ClientLoad } from './support/client-load.ts';
import { drainAndCheck, eventually, expectSound, startCluster, type FaultCluster, type GatewayProc, type Verdict } from './support/index.ts';
import { TcpProxy } from './support/tcp-proxy.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster({ redis: { appendfsync: 'always' } });
  gateway = await cluster.startGateway();
  await cluster.startWriter();
});
afterAll(async () => cluster?.stop());

// The default deadline (40 s): it outlasts the 30 s claim the gateway keeps on an
// Idempotency-Key whose request died with Redis, so (a) ends with no unknowns.
const CLIENT = { timeoutMs: 3000, retry: { deadlineMs: 40_000, baseMs: 50, maxMs: 1000 } };

function load(url: string): ClientLoad {
  return startClientLoad({ url, workers: 8, paceMs: 5, client: CLIENT });
}

function report(name: string, v: Verdict, l: ClientLoad, extra: Record<string, unknown> = {}): void {
  const counts = { attempted: v.attempted, done: v.acknowledged, failed: v.failed, unknown: v.unknown, committed: v.committed, lost: v.lost.length, unexpected: v.unexpected.length, duplicates: v.duplicates.length, orderViolations: v.orderViolations.length, failedButCommitted: v.failedButCommitted.length };
  console.info(`[client ${name}] ${JSON.stringify({ ...counts, retries: l.retries, errors: Object.fromEntries(l.errors), ...extra })}`);
}

/** The client's verdicts held, and the retries hid the fault from every caller. */
function expectClientSound(v: Verdict): void {
  expectSound(v);
  expect({ failed: v.failed, unknown: v.unknown }, 'callers saw the fault').toEqual({ failed: 0, unknown: 0 });
}

describe('@sluice/client under faults', () => {
  it('(a) Redis SIGKILL mid-stream, restarted on the same AOF dir', async () => {
    await cluster.reset();
    const l = load(gateway.url);
    await eventually(() => expect(l.acknowledged).toBeGreaterThan(200), 30_000);
    const retries = l.retries;
    cluster.redis.kill('SIGKILL');
    await eventually(() => expect(l.retries).toBeGreaterThan(retries + 8), 15_000); // callers are being held, not failed
    await cluster.redis.start();
    const acked = l.acknowledged;
    await eventually(() => expect(l.acknowledged).toBeGreaterThan(acked + 200), 45_000);
    const v = await drainAndCheck(cluster, await l.stop());
    report('redis-restart', v, l);
    expectClientSound(v);
  });

  it('(b) gateway frozen (SIGSTOP) past the per-attempt timeout, then thawed', async () => {
    await cluster.reset();
    const l = load(gateway.url);
    await eventually(() => expect(l.acknowledged).toBeGreaterThan(200), 30_000);
    const retries = l.retries;
    const frozenAt = Date.now();
    gateway.proc.kill('SIGSTOP');
    try {
      // Every worker's attempt timed out at least once: the freeze outlasted CLIENT.timeoutMs.
      await eventually(() => expect(l.retries).toBeGreaterThanOrEqual(retries + 8), 20_000, 50);
    } finally {
      gateway.proc.kill('SIGCONT');
    }
    const frozenMs = Date.now() - frozenAt;
    const acked = l.acknowledged;
    await eventually(() => expect(l.acknowledged).toBeGreaterThan(acked + 200), 45_000);
    const v = await drainAndCheck(cluster, await l.stop());
    report('gateway-frozen', v, l, { frozenMs });
    expect(frozenMs).toBeGreaterThanOrEqual(CLIENT.timeoutMs);
    expectClientSound(v);
  });

  it('(c) connections cut by a TCP proxy, before requests arrive and after they were handled', async () => {
    await cluster.reset();
    const port = Number(new URL(gateway.url).port);
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port });
    try {
      const l = load(proxy.url);
      await eventually(() => expect(l.acknowledged).toBeGreaterThan(100), 30_000);
      proxy.cut({ toServer: 0.02, toClient: 0.04 });
      await eventually(() => {
        expect(proxy.cuts.toClient).toBeGreaterThanOrEqual(25);
        expect(proxy.cuts.toServer).toBeGreaterThanOrEqual(10);
      }, 60_000);
      proxy.heal();
      const acked = l.acknowledged;
      await eventually(() => expect(l.acknowledged).toBeGreaterThan(acked + 100), 30_000);
      const v = await drainAndCheck(cluster, await l.stop());
      report('tcp-cuts', v, l, { cuts: proxy.cuts });
      expectClientSound(v);
    } finally {
      await proxy.stop();
    }
  });
});

/**
 * RELIABILITY row 19: clients trickling a body at 1 byte/s. The gateway cuts
 * each such connection at SLUICE_REQUEST_TIMEOUT_MS, enqueues nothing from it,
 * and serves the other clients meanwhile (all acknowledged, all committed).
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAndCheck, expectSound } from './support/index.ts';
import { percentile } from './support/history.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';
import { startLoad } from './support/load.ts';

const REQUEST_TIMEOUT_MS = 2000;

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  cluster = await startCluster({ env: { SLUICE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } });
  gateway = await cluster.startGateway();
  await cluster.startWriter();
});
afterAll(async () => cluster?.stop());

/** Open a POST with a 200-byte body and send one byte a second; resolves with ms until the server closed it. */
function slowClient(port: number): { closed: Promise<number>; socket: Socket } {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  socket.once('connect', () => {
    socket.write('POST /v1/tables/f_items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{');
    timer = setInterval(() => socket.write(' '), 1000);
  });
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(performance.now() - t0);
    }),
  );
  return { closed, socket };
}

describe('row 19: slow body (1 byte/s)', () => {
  it('closes slow connections at the request timeout while other clients are served', async () => {
    const port = Number(new URL(gateway.url).port);
    const slow = Array.from({ length: 20 }, () => slowClient(port));
    const load = startLoad({ urls: [gateway.url], clients: 8, opsPerClient: 60, timeoutMs: 10_000 });
    const closedAfter = await Promise.all(slow.map((s) => s.closed));
    const history = await load.done();
    // Node checks the timeout once a second: the cut comes between the timeout and one check later (plus slack).
    for (const ms of closedAfter) {
      expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(REQUEST_TIMEOUT_MS + 5000);
    }
    expect(history.count('ok')).toBe(480);
    const verdict = await drainAndCheck(cluster, history);
    expectSound(verdict);
    // Nothing from the slow clients (no "op" of theirs) reached the database: `unexpected` is empty above.
    console.info(`[row 19] ${JSON.stringify({ slowClosedMs: Math.round(Math.max(...closedAfter)), p99Ms: Math.round(percentile(history.ops, 99)), committed: verdict.committed })}`);
  });
});

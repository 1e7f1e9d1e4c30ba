/**
 * deploy/haproxy.cfg, run by HAProxy from the Debian package in front of
 * small HTTP backends (issue 11, findings 2 and 6): health checks on /livez,
 * a draining gateway taken out before its grace ends, /metrics and /readyz
 * refused on the public port, the proxy's own errors as problem+json,
 * X-Forwarded-For, an authenticated stats page, and runtime weights that
 * survive a reload through the server-state file.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '@sluice/shared/config/schema.ts';
import { eventually } from '../harness/index.ts';
import { checkTiming, HAPROXY_CFG, haproxyBinary, startHaproxy, STATS_ENV, type Haproxy } from './haproxy.ts';

const run = promisify(execFile);

/** A stand-in gateway: /livez answers `live` (200) or 503; every request is recorded. */
class Backend {
  live = true;
  readonly seen: { path: string; forwardedFor: string | undefined }[] = [];
  private server!: Server;
  port = 0;
  constructor(readonly name: string) {}
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === '/livez') {
        res.writeHead(this.live ? 200 : 503, { 'content-type': 'application/json' }).end(this.live ? '{"status":"live"}' : '{}');
        return;
      }
      this.seen.push({ path: req.url ?? '', forwardedFor: req.headers['x-forwarded-for'] as string | undefined });
      res.writeHead(200, { 'content-type': 'application/json', 'x-backend': this.name }).end('{}');
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('deploy/haproxy.cfg', () => {
  const backends = [new Backend('gateway1'), new Backend('gateway2')];
  let lb: Haproxy;
  let cleanup: () => void;
  beforeAll(async () => {
    for (const b of backends) await b.start();
    ({ haproxy: lb, cleanup } = await startHaproxy(backends.map((b) => ({ name: b.name, host: '127.0.0.1', port: b.port }))));
    await eventually(async () => expect(await lb.status()).toEqual({ gateway1: 'UP', gateway2: 'UP' }), 20_000, 100);
  }, 60_000);
  afterAll(async () => {
    await lb?.stop();
    cleanup?.();
    for (const b of backends) await b.stop();
  });

  it('passes `haproxy -c` with the stats credentials set, and is refused without them', async () => {
    await run(haproxyBinary(), ['-c', '-q', '-f', HAPROXY_CFG], { env: { ...process.env, ...STATS_ENV } });
    const env = { ...process.env, HAPROXY_STATS_USER: undefined, HAPROXY_STATS_PASSWORD: undefined };
    const refused = await run(haproxyBinary(), ['-c', '-f', HAPROXY_CFG], { env }).then(() => undefined, (e: { stderr: string }) => e);
    expect(refused?.stderr).toMatch(/HAPROXY_STATS_PASSWORD/);
  });

  it('takes a draining gateway out of rotation before SLUICE_DRAIN_GRACE_MS ends: inter + (fall - 1) x fastinter + timeout check < the default grace', () => {
    const t = checkTiming();
    const noticedWithinMs = t.inter + (t.fall - 1) * t.fastinter + t.timeoutCheck;
    expect(noticedWithinMs).toBeLessThan(configSchema.shape.SLUICE_DRAIN_GRACE_MS.parse(undefined));
    expect(t.fall).toBeGreaterThanOrEqual(2); // one lost check must not drop a gateway
  });

  it('health-checks /livez: a gateway whose /livez fails leaves rotation and comes back when it answers 200', async () => {
    const [one, two] = backends as [Backend, Backend];
    one.live = false;
    await eventually(async () => expect((await lb.status()).gateway1).toBe('DOWN'), 20_000, 100);
    two.seen.length = 0;
    for (let i = 0; i < 10; i++) expect((await fetch(`${lb.url}/v1/tables/events`)).headers.get('x-backend')).toBe('gateway2');
    one.live = true;
    await eventually(async () => expect((await lb.status()).gateway1).toBe('UP'), 20_000, 100);
  });

  it('refuses /metrics and /readyz on the public port with 404 problem+json, never forwarding them', async () => {
    for (const b of backends) b.seen.length = 0;
    for (const path of ['/metrics', '/metrics?x=1', '/readyz']) {
      const res = await fetch(`${lb.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 404, type: 'https://sluice.dev/problems/not-found' });
    }
    expect((await fetch(`${lb.url}/livez`)).status).toBe(200);
    expect(backends.flatMap((b) => b.seen.map((s) => s.path)).filter((p) => p !== '/livez')).toEqual([]);
  });

  it('adds X-Forwarded-For with the client address', async () => {
    for (const b of backends) b.seen.length = 0;
    await fetch(`${lb.url}/v1/tables/events`);
    expect(backends.flatMap((b) => b.seen)).toEqual([{ path: '/v1/tables/events', forwardedFor: '127.0.0.1' }]);
  });

  it('serves the stats page only with the credentials', async () => {
    expect((await fetch(lb.statsUrl)).status).toBe(401);
    const wrong = Buffer.from(`${STATS_ENV.HAPROXY_STATS_USER}:nope`).toString('base64');
    expect((await fetch(lb.statsUrl, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
    const right = Buffer.from(`${STATS_ENV.HAPROXY_STATS_USER}:${STATS_ENV.HAPROXY_STATS_PASSWORD}`).toString('base64');
    expect((await fetch(lb.statsUrl, { headers: { authorization: `Basic ${right}` } })).status).toBe(200);
  });

  it('keeps a weight set on the runtime API across a reload (the server-state file, as deploy/haproxy/reload.sh saves it)', async () => {
    expect(await lb.admin('set weight gateways/gateway1 7')).toBe('\n');
    expect(await lb.admin('get weight gateways/gateway1')).toMatch(/^7 \(initial 100\)/);
    writeFileSync(join(lb.layout.dir, 'server-state'), await lb.admin('show servers state'));
    const old = lb;
    lb = await old.reload();
    await old.exited; // soft-stopped by the new process, as in a reload
    expect(await lb.admin('get weight gateways/gateway1')).toMatch(/^7 \(initial 100\)/);
    expect(await lb.admin('get weight gateways/gateway2')).toMatch(/^100 \(initial 100\)/);
  });

  it("answers with its own 503 as problem+json with Retry-After when no gateway is up", async () => {
    for (const b of backends) b.live = false;
    await eventually(async () => expect(await lb.status()).toEqual({ gateway1: 'DOWN', gateway2: 'DOWN' }), 20_000, 100);
    const res = await fetch(`${lb.url}/v1/tables/events`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ status: 503, type: 'https://sluice.dev/problems/no-gateway' });
  });
});

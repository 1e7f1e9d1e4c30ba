/**
 * The gateway as a process (`gateway/src/main.ts`): RELIABILITY row 6 (refuse
 * a Redis that can lose queued writes), the `gateway listening` line, and a
 * SIGTERM drain that lets in-flight requests finish.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRedisDurability, UnsafeRedisError } from '@sluice/shared/redis/startup-check.ts';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { startRedis, type LocalRedis } from '@sluice/local-servers/redis.ts';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { createTestEnv, testEnvVars, type TestEnv } from '../harness/index.ts';
import { GATEWAY_SQL } from './support.ts';

describe('main: startup checks and shutdown', () => {
  let env: TestEnv;
  const servers: LocalRedis[] = [];
  const procs: TsProcess[] = [];
  beforeAll(async () => {
    env = await createTestEnv({ sql: GATEWAY_SQL });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop(2000);
    for (const s of servers) await s.destroy();
    await env?.cleanup();
  });

  async function gatewayEnv(redisUrl: string, extra: Record<string, string> = {}) {
    return testEnvVars(env, { REDIS_URL: redisUrl, SLUICE_TABLES: 'events,pairs', SLUICE_PORT: String(await freePort()), SLUICE_LOG_LEVEL: 'info', ...extra });
  }

  /** Start main.ts expecting it to refuse; returns its output. */
  async function refused(redisUrl: string, extra: Record<string, string> = {}): Promise<string> {
    const err = await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: await gatewayEnv(redisUrl, extra), ready: /gateway listening/, timeoutMs: 20_000 }).then(
      (p) => {
        procs.push(p);
        throw new Error('the gateway started against an unsafe Redis');
      },
      (e: Error) => e,
    );
    expect(err.message).toMatch(/exited with 1/);
    return err.message;
  }

  it('checkRedisDurability refuses allkeys-lru and AOF off, and allows volatile only when told', async () => {
    const lru = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    const noAof = await startRedis({ appendonly: false });
    servers.push(lru, noAof);
    const a = new Redis(lru.url);
    const b = new Redis(noAof.url);
    try {
      await expect(checkRedisDurability(a, true)).rejects.toThrow(UnsafeRedisError);
      await expect(checkRedisDurability(b, false)).rejects.toThrow(/AOF/);
      const { warnings } = await checkRedisDurability(b, true);
      expect(warnings.join()).toMatch(/AOF/);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  it('RELIABILITY 6: the gateway refuses to start against allkeys-lru or a Redis without AOF, saying why', async () => {
    const [lru, noAof] = servers;
    expect(await refused(lru!.url)).toMatch(/maxmemory-policy is \\?"allkeys-lru\\?"/);
    expect(await refused(noAof!.url)).toMatch(/AOF off/);
    // Eviction is never allowed, not even with the volatile opt-in.
    expect(await refused(lru!.url, { SLUICE_ALLOW_VOLATILE_REDIS: 'true' })).toMatch(/noeviction/);
  });

  it('SLUICE_ALLOW_VOLATILE_REDIS=true starts without AOF and logs it at error level', async () => {
    const p = await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: await gatewayEnv(servers[1]!.url, { SLUICE_ALLOW_VOLATILE_REDIS: 'true' }), ready: /gateway listening/ });
    procs.push(p);
    expect(p.output()).toMatch(/"level":50[^\n]*REDIS DURABILITY: Redis has AOF off/);
    expect(await p.stop()).toBe(0);
  });

  it('logs "gateway listening" with URL and node id; SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const vars = await gatewayEnv(env.redisUrl, { SLUICE_COMMIT_WAIT_MS: '1500' });
    const p = await startTsProcess('gateway/src/main.ts', { name: 'gateway', env: vars, ready: /gateway listening/ });
    procs.push(p);
    const line = JSON.parse(p.output().split('\n').find((l) => l.includes('gateway listening'))!) as { url: string; nodeId: string };
    expect(line.url).toBe(`http://127.0.0.1:${vars.SLUICE_PORT}`);
    expect(line.nodeId).toMatch(/^[a-z0-9]{10}$/);
    const base = line.url;
    expect((await fetch(`${base}/v1/tables/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"a","amount":1}' })).status).toBe(202);
    // No writer runs: this committed request waits its full SLUICE_COMMIT_WAIT_MS, across the SIGTERM.
    const inFlight = fetch(`${base}/v1/tables/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': 'committed' }, body: '{"kind":"b","amount":2}' });
    await new Promise((r) => setTimeout(r, 200));
    p.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(504);
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/draining/);
  });
});

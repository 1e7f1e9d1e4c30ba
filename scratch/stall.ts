import { drive } from '../bench/lib/drive.ts';
import { startBaseline, startService, stopAll, tracked, type Running } from '../bench/lib/services.ts';
import { createLogger, createPool, freePort, migrate, startPostgres, startRedis } from '../bench/lib/shared.ts';
const pgs = await startPostgres(); const redis = await startRedis();
const pool = createPool({ url: pgs.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 60000, applicationName: 'x', log: createLogger('x','warn') });
await migrate(pool); await pool.query('CREATE TABLE bench_kv (id int PRIMARY KEY)'); await pool.end();
const port = await freePort(); const bport = await freePort(); const port2 = await freePort(); const port3 = await freePort();
const running: Running[] = [await startService('gateway', { env: { DATABASE_URL: pgs.url, REDIS_URL: redis.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port) } }, 'gateway-0'), await startBaseline('bench/baselines/bare-hono-const.ts', [String(bport)], 'bare'), await startService('gateway', { env: { DATABASE_URL: pgs.url, REDIS_URL: redis.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port2) } }, 'gateway-1'), await startService('gateway', { env: { DATABASE_URL: pgs.url, REDIS_URL: redis.url, SLUICE_TABLES: 'bench_kv', SLUICE_PORT: String(port3) } }, 'gateway-2')];
for (let i = 0; i < 10; i++) { const r = await fetch(`http://127.0.0.1:${port}/v1/admin/flags/bench-flag-${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true, rollout: 50 }) }); console.log(r.status, await r.text()); }
const names = JSON.stringify(Array.from({ length: 10 }, (_, i) => `bench-flag-${i}`));
for (const [name, p, spec] of [['gw3 get', 0, { method: 'GET', path: '/v1/flags/bench-flag-0?userId=user-{key}' }], ['gw3 bulk', 0, { method: 'POST', path: '/v1/flags/evaluate', body: `{"userId":"user-{key}","flags":${names}}` }]] as const) {
  const t = performance.now();
  const m = await drive({ name, ports: [port, port2, port3], ...spec, keys: { mode: 'seq', start: 1 }, connections: 100, durationMs: 15000, progressMs: 3000 } as any, tracked(running));
  console.log(name, 'took', Math.round(performance.now() - t), 'ms', m.load.rps.toFixed(0), 'rps', JSON.stringify(m.load.status), 'errors', m.load.errors, m.cpuUs);
}
await stopAll(running); await redis.stop?.(); await pgs.stop?.();
process.exit(0);

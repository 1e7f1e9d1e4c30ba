/**
 * Issue 11, finding 9: the operator's view. `GET /v1/admin/status` and
 * `pnpm sluice status` show partitions with their owners, the backlog in
 * jobs, writes and bytes with the oldest job's age, live writers, replicas,
 * dead letters and write/read rates; the gateway has a latency histogram.
 */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { closeServer, listen } from '@sluice/gateway/server.ts';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { eventually, testConfig } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';
import { quiet } from '../writer/helpers.ts';

const ADMIN = 'admin-key-for-the-status-0123456789abcdef';
const DATA = 'data-key-for-the-status-0123456789abcdef0';
const KEYS = [{ key: ADMIN, scopes: ['admin'] }, { key: DATA, scopes: ['write:*', 'read:*'] }];
const as = (key: string) => ({ authorization: `Bearer ${key}` });

let t: TestGateway;
let server: Server;
let url: string;
let writer: Writer | undefined;

beforeAll(async () => {
  t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS) } });
  const l = await listen(t.gw.app, { host: '127.0.0.1', port: 0, requestTimeoutMs: 10_000 });
  server = l.server;
  url = `http://127.0.0.1:${l.port}`;
});
afterAll(async () => {
  await writer?.stop();
  if (server) await closeServer(server, 1000);
  await t?.close();
});

describe('admin status', () => {
  it('shows the backlog in jobs, writes and bytes with the oldest job\'s age while no writer runs, then owners once one does', async () => {
    for (let i = 0; i < 30; i++) expect((await t.post('/v1/tables/events', { kind: 's', amount: i }, as(DATA))).status).toBe(202);
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.request('/v1/admin/status', { headers: as(DATA) })).status).toBe(403);
    const s = await json(await t.request('/v1/admin/status', { headers: as(ADMIN) }));
    expect(s.backlog).toMatchObject({ writes: 30, limits: { jobs: 20_000, writes: 1_000_000 } });
    expect(s.backlog.jobs).toBeGreaterThan(0);
    expect(s.backlog.bytes).toBeGreaterThan(30 * 20);
    expect(s.backlog.oldestJobAgeMs).toBeGreaterThanOrEqual(300);
    expect(s.partitions).toHaveLength(4);
    expect(s.partitions.every((p: { owner: string | null }) => p.owner === null)).toBe(true);
    expect(s.writers).toEqual([]);
    expect(s.deadLetters).toBe(0);
    expect(s.rates.writesPerSec).toBeGreaterThanOrEqual(0);

    writer = await startWriter(testConfig(t.env, { SLUICE_TABLES: 'events,pairs,secrets', SLUICE_PARTITIONS: '4' }), { log: quiet });
    await eventually(async () => {
      const now = await json(await t.request('/v1/admin/status', { headers: as(ADMIN) }));
      expect(now.backlog).toMatchObject({ jobs: 0, writes: 0, bytes: 0, oldestJobAgeMs: null });
      expect(now.writers).toHaveLength(1);
      expect(now.partitions.every((p: { owner: string | null }) => p.owner === now.writers[0].id)).toBe(true);
    }, 20_000);
  });

  it('pnpm sluice status prints it for a terminal', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'client/src/cli/main.ts'), 'status', '--url', url, '--api-key', ADMIN], { cwd: REPO_ROOT });
    expect(stdout).toMatch(/^sluice status at /);
    expect(stdout).toMatch(/backlog +\d+ jobs .* writes .*oldest job/);
    expect(stdout).toContain('PARTITION');
    expect(stdout).toMatch(/main\.1\.0 /);
    expect(stdout).toMatch(/writes\/s, .* reads\/s/);
  });

  it('the gateway times every request: sluice_http_request_duration_seconds by route and method', async () => {
    await t.request('/v1/tables/events/1', { headers: as(DATA) });
    const text = await (await t.request('/metrics', { headers: as(ADMIN) })).text();
    expect(text).toContain('# TYPE sluice_http_request_duration_seconds histogram');
    expect(text).toMatch(/sluice_http_request_duration_seconds_count\{route="\/v1\/tables\/:table",method="POST"\} \d+/);
  });
});

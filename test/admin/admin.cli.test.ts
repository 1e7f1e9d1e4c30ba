/** `pnpm deadletters` (scripts/deadletters.ts) against a listening gateway: list, show, replay, discard. */
import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { closeServer, listen } from '@sluice/gateway/server.ts';
import { startGateway, type TestGateway } from '../gateway/support.ts';

const KEYS = [{ key: 'admin-key-for-cli-0123456789abcdef0123456789', scopes: ['admin'] }];
let t: TestGateway;
let server: Server;
let url: string;
let id: number;

beforeAll(async () => {
  t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify(KEYS) } });
  const l = await listen(t.gw.app, { host: '127.0.0.1', port: 0, requestTimeoutMs: 10_000 });
  server = l.server;
  url = `http://127.0.0.1:${l.port}`;
  const { rows } = await t.env.pool.query<{ id: string }>(
    `INSERT INTO sluice.dead_letters (write_id, job_id, table_name, sqlstate, message, payload)
     VALUES ('p1.cli.1.0', 'p1.cli.1', 'events', '23514', 'violates check constraint "cli"',
             '{"id":"p1.cli.1.0","ops":[{"t":"events","op":"insert","row":{"kind":"cli","amount":"1"}}]}') RETURNING id`,
  );
  id = Number(rows[0]!.id);
});
afterAll(async () => {
  if (server) await closeServer(server, 1000);
  await t?.close();
});

/** Run the CLI; resolves with its exit code and output. */
async function cli(args: string[], env: Record<string, string> = { SLUICE_URL: url, SLUICE_ADMIN_KEY: 'admin-key-for-cli-0123456789abcdef0123456789' }): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/deadletters.ts'), ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

describe('pnpm deadletters', () => {
  it('lists, shows, replays (twice: once) and discards', async () => {
    const list = await cli(['list', '--table', 'events']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${id}\\s+\\S+\\s+events\\s+23514\\s+p1\\.cli\\.1\\.0\\s+violates check`, 'm'));

    const show = await cli(['show', String(id), '--url', url, '--key', 'admin-key-for-cli-0123456789abcdef0123456789'], {});
    expect(show.code).toBe(0);
    expect(JSON.parse(show.out)).toMatchObject({ id, payload: { ops: [{ t: 'events' }] } });

    const first = await cli(['replay', String(id)]);
    expect(first.out).toMatch(/^replayed as main\.1\.\d+\.\S+ \(queued\)$/m);
    const second = await cli(['replay', String(id)]);
    expect(second.out).toBe(first.out.replace('replayed as', 'already replayed as'));
    expect(await t.backlog()).toBe(1);

    expect((await cli(['discard', String(id)])).out).toBe('discarded\n');
    expect((await cli(['list', '--state', 'discarded', '--json'])).out).toContain(`"id": ${id}`);
  });

  it('exits 1 with the problem on an API error, 2 on bad usage', async () => {
    const denied = await cli(['list'], { SLUICE_URL: url, SLUICE_ADMIN_KEY: 'wrong-key-entirely' });
    expect(denied.code).toBe(1);
    expect(denied.err).toMatch(/^401 Unauthorized: unknown API key/);
    expect((await cli(['show', 'abc'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
  });
});

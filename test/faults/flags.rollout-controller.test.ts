/**
 * Issue 15: the canary controller steps a feature flag's rollout
 * (`pnpm canary flag NAME`, scripts/canary/flag-rollout.ts) and kills the
 * flag when the requests of users inside the rollout do worse than those
 * outside over the same window. Two gateways run with SLUICE_ROLLOUT_FLAG, a
 * load sends writes naming their users (`Sluice-User-Id`, 5,000 users).
 *
 * - A healthy rollout goes 1 → 5 → 25 → 50 → 100 % and ends enabled at 100.
 * - A rollout whose "on" users get errors (the test-only fail point
 *   `flag-on-fails`: a broken code path behind the flag answers 500 to them)
 *   is killed at the first step (1 %), with a report; once the kill has
 *   propagated no request fails any more.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import type { FlagRolloutReport } from '../../scripts/canary/flag-rollout.ts';
import { startCluster, type FaultCluster, type GatewayProc } from './support/index.ts';

let cluster: FaultCluster;
let healthy: GatewayProc[];
let broken: GatewayProc[];
const stateDir = mkdtempSync(join(tmpdir(), 'sluice-flag-rollout-'));

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startWriter();
  healthy = await Promise.all([1, 2].map((i) => cluster.startGateway({ SLUICE_ROLLOUT_FLAG: 'new-path' }, `gateway${i}`)));
  broken = await Promise.all([3, 4].map((i) => cluster.startGateway({ SLUICE_ROLLOUT_FLAG: 'bad-path', SLUICE_FAILPOINTS: 'flag-on-fails' }, `gateway${i}`)));
}, 180_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Clients writing for random users through `urls`, each request timed and its status kept. */
function userLoad(urls: readonly string[], clients = 8) {
  const seen: { at: number; status: number }[] = [];
  let stopped = false;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      const user = `user-${Math.floor(Math.random() * 5000)}`;
      let status = 0;
      try {
        const res = await fetch(`${urls[(c + i) % urls.length]}/v1/tables/f_items`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-user-id': user }, body: JSON.stringify({ op: `${user}.${c}.${i}`, client: c }), signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0;
      }
      seen.push({ at: Date.now(), status });
    }
  });
  return {
    seen,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** `pnpm canary flag NAME` as its own process, steps of 2 s judged every 200 ms. */
function run(flag: string, gateways: GatewayProc[], lines: string[]): Promise<{ code: number | null; report: FlagRolloutReport | null }> {
  const reportFile = join(stateDir, `${flag}.report.json`);
  const args = [
    '--import', 'tsx', 'scripts/canary/main.ts', 'flag', flag, '--gateways', gateways.map((g) => g.url).join(','), '--url', gateways[0]!.url,
    '--interval', '2000', '--check', '200', '--max-wait', '60000', '--min-requests', '5',
    // Latency is judged in the canary's unit tests; on this loaded machine a 2 s window of a few
    // "on" requests is no latency sample (see canary.haproxy.test.ts): here errors are the rule.
    '--latency-floor-ms', '1000', '--state', join(stateDir, `${flag}.json`), '--report', reportFile,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      for (const l of d.split('\n')) if (/^\d{4}-/.test(l)) lines.push(l.slice(25));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => lines.push(`stderr: ${d.trim()}`));
    child.on('error', reject);
    child.on('exit', (code) => {
      let report: FlagRolloutReport | null = null;
      try {
        report = JSON.parse(readFileSync(reportFile, 'utf8')) as FlagRolloutReport;
      } catch {
        // exited before writing it
      }
      resolve({ code, report });
    });
  });
}

async function storedFlag(url: string, name: string): Promise<{ enabled: boolean; rollout: number; version: number } | undefined> {
  const body = (await (await fetch(`${url}/v1/admin/flags`)).json()) as { flags: { name: string; enabled: boolean; rollout: number; version: number }[] };
  return body.flags.find((f) => f.name === name);
}

describe('pnpm canary flag: a flag rollout stepped and judged like a canary', () => {
  it('a healthy rollout goes 1 → 5 → 25 → 50 → 100 %', async () => {
    const load = userLoad(healthy.map((g) => g.url));
    const lines: string[] = [];
    let result: Awaited<ReturnType<typeof run>>;
    try {
      result = await run('new-path', healthy, lines);
    } finally {
      await load.stop();
    }
    console.info(`[flag rollout, healthy]\n  ${lines.join('\n  ')}`);
    expect(result.code, lines.join('\n')).toBe(0);
    const r = result.report!;
    expect(r.outcome).toBe('rolled-out');
    expect(r.steps.map((s) => [s.rollout, s.verdict])).toEqual([1, 5, 25, 50, 100].map((p) => [p, 'healthy']));
    // Each step judged users inside the rollout on real traffic; until 100 % users outside too.
    for (const s of r.steps) expect(s.on.responses).toBeGreaterThanOrEqual(5);
    for (const s of r.steps.slice(0, -1)) expect(s.off.responses).toBeGreaterThan(0);
    expect(await storedFlag(healthy[0]!.url, 'new-path')).toMatchObject({ enabled: true, rollout: 100 });
    expect(load.seen.filter((s) => s.status !== 202)).toEqual([]);
  }, 240_000);

  it('a rollout whose "on" users get errors is killed at the first step, with a report; then no request fails', async () => {
    const load = userLoad(broken.map((g) => g.url));
    const lines: string[] = [];
    let result: Awaited<ReturnType<typeof run>>;
    let killedAt = 0;
    try {
      result = await run('bad-path', broken, lines);
      killedAt = Date.now();
      // The kill reaches every gateway within 1 s; watch 2 s past that.
      await sleep(3000);
    } finally {
      await load.stop();
    }
    console.info(`[flag rollout, bad]\n  ${lines.join('\n  ')}\n  report: ${JSON.stringify({ ...result.report, steps: result.report?.steps.map((s) => ({ rollout: s.rollout, verdict: s.verdict, reasons: s.reasons, on: s.on, off: s.off })) })}`);
    expect(result.code, lines.join('\n')).toBe(1);
    const r = result.report!;
    expect(r.outcome).toBe('killed');
    expect(r.steps.map((s) => [s.rollout, s.verdict])).toEqual([[1, 'unhealthy']]);
    expect(r.reason).toMatch(/^errors: /);
    expect(r.steps[0]!.on.errorRate).toBeGreaterThan(0.5);
    expect(r.steps[0]!.off.errorRate).toBe(0);
    expect(lines.some((l) => l.startsWith('KILLED: errors: '))).toBe(true);
    expect(await storedFlag(broken[0]!.url, 'bad-path')).toMatchObject({ enabled: false, rollout: 1, version: r.killedVersion });
    // Only users inside the 1 % failed, and none once the kill had propagated (1 s).
    const failed = load.seen.filter((s) => s.status !== 202);
    expect(failed.every((s) => s.status === 500)).toBe(true);
    expect(failed.filter((s) => s.at > killedAt + 1000)).toEqual([]);
    expect(load.seen.filter((s) => s.at > killedAt + 1000).length).toBeGreaterThan(0);
    console.info(`[flag rollout, bad] ${failed.length} of ${load.seen.length} requests failed (users inside the 1 %), none after the kill + 1 s; kill call ${r.killMs} ms`);
  }, 240_000);
});

/**
 * deploy/monitoring (issue 11, finding 9): the Prometheus config and alert
 * rules pass promtool (Debian package `prometheus`), the alert rules' unit
 * tests pass, every dashboard query parses, and both name only metrics the
 * processes really export, so a renamed metric cannot leave a silent alert.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@sluice/shared/config/index.ts';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { WriterMetrics } from '@sluice/writer/metrics/metrics.ts';
import { GatewayMetrics } from '@sluice/gateway/metrics/index.ts';

const run = promisify(execFile);
const DIR = join(REPO_ROOT, 'deploy', 'monitoring');
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana', 'dashboards', 'sluice.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
const alerts = readFileSync(join(DIR, 'alerts.yml'), 'utf8');

/** promtool, or a clear failure: CI installs the Debian package `prometheus` (.ci/run). */
function promtool(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('promtool is not installed: `apt-get install prometheus` (the Debian package; .ci/run installs it)');
  }
}

/** Metric names in PromQL text; a `__name__` regex with one `(a|b)` group counts as each alternative. */
function metricNames(text: string): Set<string> {
  const expanded = text.replace(/sluice_\(([a-z|]+)\)_([a-z0-9_]+)/g, (_m, alts: string, rest: string) => alts.split('|').map((a) => `sluice_${a}_${rest}`).join(' '));
  return new Set(expanded.match(/\bsluice_[a-z0-9_]+/g) ?? []);
}

/** Every `sluice_…` name in a string literal of the services' sources, plus prom-client's process metrics under our prefixes. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/'(sluice_[a-z0-9_]+)'/g)) names.add(m[1]!);
    }
  };
  for (const pkg of ['gateway', 'writer', 'shared']) walk(join(REPO_ROOT, pkg, 'src'));
  const registries = [new GatewayMetrics(loadConfig({}), true).registry, new WriterMetrics({ defaultMetrics: true }).registry];
  for (const r of registries) for (const m of await r.getMetricsAsJSON()) names.add(m.name);
  return names;
}

/** A name as exported: histogram series carry a suffix. */
const baseName = (n: string, known: Set<string>) => (known.has(n) ? n : n.replace(/_(bucket|count|sum)$/, ''));

describe('deploy/monitoring', () => {
  it('passes promtool: the scrape config, the alert rules and their unit tests', async () => {
    const bin = promtool();
    await run(bin, ['check', 'config', join(DIR, 'prometheus.yml')]);
    await run(bin, ['check', 'rules', join(DIR, 'alerts.yml')]);
    const tested = await run(bin, ['test', 'rules', join(DIR, 'alerts.test.yml')]);
    expect(tested.stdout).toMatch(/SUCCESS/);
  });

  it('has a dashboard whose every query parses as PromQL', async () => {
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '5m')));
    expect(exprs.length).toBeGreaterThan(30);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-dashboard-'));
    try {
      const rules = `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) => `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(e)}\n`).join('')}`;
      writeFileSync(join(dir, 'rules.yml'), rules);
      await run(promtool(), ['check', 'rules', join(dir, 'rules.yml')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names only metrics the gateway, writer and warmer export, in the dashboard and in the alerts', async () => {
    const known = await exportedNames();
    const used = new Set([...metricNames(JSON.stringify(dashboard)), ...metricNames(alerts)]);
    expect(used.size).toBeGreaterThan(30);
    expect([...used].filter((n) => !known.has(baseName(n, known))).sort()).toEqual([]);
  });
});

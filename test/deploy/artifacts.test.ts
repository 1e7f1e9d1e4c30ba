/**
 * The deploy artifacts (issue 11, finding 6): docker-compose.yml validated by
 * the compose tool itself and read as YAML, and the Dockerfile. Each check is
 * a property an operator relies on: restart policies, compiled entry points
 * run by node, metrics ports Prometheus scrapes, a drain grace HAProxy can
 * honour, a replica on a replication slot, a non-root production image.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DIST_CONDITION, REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { checkTiming } from './haproxy.ts';

const run = promisify(execFile);
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  command?: string[];
  entrypoint?: string[];
  user?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
/** Sluice services `up` starts; tools (profile "tools", e.g. the canary controller) run on demand. */
const sluice = services.filter(([, s]) => s.image === 'sluice:local' && !(s.profiles ?? []).includes('tools'));

/** `docker compose` or `docker-compose`, or a clear failure: CI installs the Debian package (.ci/run). */
function composeTool(): string[] {
  const works = (cmd: string[]) => {
    try {
      execFileSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (works(['docker', 'compose'])) return ['docker', 'compose'];
  if (works(['docker-compose'])) return ['docker-compose'];
  throw new Error('no compose tool: `apt-get install docker-compose` (the Debian package; .ci/run installs it)');
}

describe('docker-compose.yml', () => {
  it('is valid for the compose tool when the stats password is set, and refused without one', async () => {
    const [cmd, ...args] = composeTool();
    const config = [...args, '-f', join(REPO_ROOT, 'docker-compose.yml'), 'config', '-q'];
    await run(cmd!, config, { env: { ...process.env, HAPROXY_STATS_PASSWORD: 'check-only' } });
    const refused = await run(cmd!, config, { env: { ...process.env, HAPROXY_STATS_PASSWORD: '' } }).then(() => undefined, (e: { stderr: string }) => e);
    expect(refused?.stderr).toMatch(/HAPROXY_STATS_PASSWORD/);
  }, 90_000); // two runs of the (Python) compose tool: seconds each, much more on a busy machine

  it('gives every service a restart policy', () => {
    expect(services.filter(([, s]) => s.restart === undefined).map(([name]) => name)).toEqual([]);
  });

  it('runs every Sluice process as `node --conditions=sluice-dist <package>/dist/….js`, compiled from a source file that exists', () => {
    expect(sluice.map(([name]) => name).sort()).toEqual(['gateway1', 'gateway2', 'gateway3', 'migrate', 'warmer', 'writer1', 'writer2']);
    for (const [name, s] of sluice) {
      const [node, condition, entry, ...rest] = s.command ?? [];
      expect({ name, node, condition, rest }).toEqual({ name, node: 'node', condition: `--conditions=${DIST_CONDITION}`, rest: [] });
      expect(existsSync(join(REPO_ROOT, entry!.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${name}: source of ${entry}`).toBe(true);
    }
  });

  it('runs the canary controller on demand, compiled, on the HAProxy runtime socket as HAProxy\'s uid', () => {
    const canary = compose.services.canary!;
    expect(canary.image).toBe('sluice:local');
    expect(canary.profiles).toEqual(['tools']);
    const [tini, dashes, node, condition, entry, ...args] = canary.entrypoint ?? [];
    expect({ tini, dashes, node, condition }).toEqual({ tini: '/usr/bin/tini', dashes: '--', node: 'node', condition: `--conditions=${DIST_CONDITION}` });
    expect(entry).toBe('scripts/dist/canary/main.js');
    expect(existsSync(join(REPO_ROOT, 'scripts/canary/main.ts'))).toBe(true);
    expect(read('scripts/tsconfig.build.json')).toContain('"canary/main.ts"');
    expect(args.join(' ')).toContain('--socket /var/lib/haproxy/admin.sock');
    expect(canary.volumes).toContain('haproxy-run:/var/lib/haproxy');
    expect(canary.user).toBe('99:99');
    expect(read('deploy/haproxy/Dockerfile')).toMatch(/id -u haproxy\)" = 99/);
  });

  it('turns metrics on for writers and the warmer, and Prometheus scrapes every Sluice process on those ports', () => {
    const prometheus = read('deploy/monitoring/prometheus.yml');
    for (const [name, s] of sluice.filter(([n]) => n !== 'migrate')) {
      const env = s.environment ?? {};
      const port = name.startsWith('writer') ? env.SLUICE_WRITER_METRICS_PORT : name === 'warmer' ? env.SLUICE_WARMER_METRICS_PORT : env.SLUICE_PORT;
      expect(Number(port), `${name} metrics port`).toBeGreaterThan(0);
      expect(prometheus, `${name} scraped`).toContain(`${name}:${port}`);
    }
  });

  it("gives each gateway a drain grace longer than HAProxy's time to take it out of rotation", () => {
    const t = checkTiming();
    for (const [name, s] of sluice.filter(([n]) => n.startsWith('gateway'))) {
      expect(Number(s.environment?.SLUICE_DRAIN_GRACE_MS), name).toBeGreaterThan(t.inter + (t.fall - 1) * t.fastinter + t.timeoutCheck);
    }
  });

  it('streams the replica from a physical replication slot, and re-clones it with pg_basebackup -R -S', () => {
    const replica = compose.services.replica!;
    expect(replica.environment?.REPLICATION_SLOT).toMatch(/^[a-z_]+$/);
    expect(compose.services.postgres!.command?.join(' ')).toMatch(/max_slot_wal_keep_size=/);
    const script = read('deploy/postgres/replica-entrypoint.sh');
    expect(script).toMatch(/pg_basebackup [^\n]*-R [^\n]*-S "\$REPLICATION_SLOT"/);
    execFileSync('bash', ['-n', join(REPO_ROOT, 'deploy/postgres/replica-entrypoint.sh')]);
  });

  it('keeps the HAProxy runtime API in a volume and the stats page on loopback', () => {
    const haproxy = compose.services.haproxy!;
    expect(haproxy.volumes).toContain('haproxy-run:/var/lib/haproxy');
    expect(read('deploy/haproxy.cfg')).toMatch(/^ {2}stats socket \/var\/lib\/haproxy\/admin\.sock [^\n]*level admin/m);
    expect(haproxy.ports).toEqual(['3000:3000', '127.0.0.1:8404:8404']);
    for (const name of ['prometheus', 'grafana']) expect(compose.services[name]!.ports!.every((p) => p.startsWith('127.0.0.1:')), name).toBe(true);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1)!;

  it('builds in stages on a current LTS Node image, not Node 20', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-[a-z]+-slim$/m);
    expect(dockerfile).not.toMatch(/node:20/);
  });

  it('ships production dependencies and compiled output only, runs as a non-root user under tini with node', () => {
    expect(dockerfile).toMatch(/pnpm install --prod --frozen-lockfile/);
    expect(runtime).not.toMatch(/COPY \. \.|COPY [a-z]+\/src|^RUN [^\n]*pnpm/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "--conditions=sluice-dist", "scripts\/dist\/start\.js"\]$/m);
  });
});

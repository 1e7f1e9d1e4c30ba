import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { LogFn } from './child.ts';
import { freePort } from './free-port.ts';
import { startRedis, type LocalRedis } from './redis.ts';

const run = promisify(execFile);

/** Options of `startRedisCluster`. */
export interface StartRedisClusterOptions {
  /** Default 3. */
  masters?: number;
  /** Replicas per master, default 1. */
  replicasPerMaster?: number;
  /**
   * ms before a silent master is judged failed and its replica elected
   * (Redis's default is 15,000; tests want a failover in a few seconds).
   * Default 2000.
   */
  nodeTimeoutMs?: number;
  /** Parent folder (one `node-<port>` folder per node). Default: a new temp folder, removed by `destroy()`. */
  dir?: string;
  /** First port to try (stable URLs for `pnpm dev --cluster`); the bus port is port + 10000. */
  basePort?: number;
  /** Default 'always' (as startRedis). */
  appendfsync?: 'always' | 'everysec' | 'no';
  log?: LogFn;
}

/** A node of the cluster and what CLUSTER NODES last said it is. */
export interface ClusterNodeInfo {
  readonly port: number;
  readonly id: string;
  readonly role: 'master' | 'replica';
  /** The master's node id, for a replica. */
  readonly masterId: string | undefined;
  readonly failed: boolean;
  /** Slot ranges served, for a master: [[from, to], …]. */
  readonly slots: readonly [number, number][];
}

/** A Redis Cluster we started: 3 masters and 3 replicas by default, each a LocalRedis. */
export interface LocalRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,…` (every node as a seed). */
  readonly url: string;
  readonly nodes: readonly LocalRedis[];
  /** The cluster as node `via` (default: the first live one) sees it now. */
  topology(via?: LocalRedis): Promise<ClusterNodeInfo[]>;
  /** The LocalRedis that is master of `slot` now. */
  masterOf(slot: number): Promise<LocalRedis>;
  /** Move `count` slots from master `from` to master `to` with `redis-cli --cluster reshard` (keys migrate while clients run). */
  reshard(from: LocalRedis, to: LocalRedis, count: number): Promise<void>;
  /** Resolves once every slot is served by a live master and CLUSTER INFO says ok (after a failover). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Stop every node, then delete the folder if we created it. */
  destroy(): Promise<void>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 });
  return stdout;
}

/** Parse CLUSTER NODES. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const port = Number(/:(\d+)@/.exec(f[1]!)?.[1]);
    const flags = f[2]!.split(',');
    const slots: [number, number][] = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [a, b] = s.split('-');
      slots.push([Number(a), Number(b ?? a)]);
    }
    out.push({ port, id: f[0]!, role: flags.includes('master') ? 'master' : 'replica', masterId: f[3] === '-' ? undefined : f[3], failed: flags.includes('fail') || flags.includes('fail?'), slots });
  }
  return out;
}

/**
 * A free port whose cluster bus port (port + 10000) is free as well, both
 * below Linux's ephemeral range (32768+), where outgoing connections of other
 * processes would keep taking them: 12000..22767 unless `preferred` says otherwise.
 */
async function clusterPort(preferred: number | undefined): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const want = preferred !== undefined && i < 50 ? preferred + i : 12_000 + Math.floor(Math.random() * 10_700);
    const p = await freePort(want);
    if (p !== want) continue;
    if ((await freePort(p + 10_000)) === p + 10_000) return p;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node');
}

/**
 * Start a Redis Cluster from the local `redis-server` binaries: every node
 * with the settings Sluice requires (AOF, noeviction) plus `cluster-enabled`,
 * then `redis-cli --cluster create … --cluster-replicas n`, resolved once
 * every slot is served. For tests, the bench and `pnpm dev --cluster`.
 */
export async function startRedisCluster(o: StartRedisClusterOptions = {}): Promise<LocalRedisCluster> {
  const masters = o.masters ?? 3;
  const per = o.replicasPerMaster ?? 1;
  const ownsDir = o.dir === undefined;
  const root = resolve(o.dir ?? mkdtempSync(join(tmpdir(), 'sluice-redis-cluster-')));
  mkdirSync(root, { recursive: true });
  const nodes: LocalRedis[] = [];
  const destroy = async () => {
    await Promise.allSettled(nodes.map((n) => n.destroy()));
    if (ownsDir) rmSync(root, { recursive: true, force: true });
  };
  try {
    let next = o.basePort;
    for (let i = 0; i < masters * (1 + per); i++) {
      const dir = join(root, `node-${i}`);
      mkdirSync(dir, { recursive: true });
      const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', String(o.nodeTimeoutMs ?? 2000)];
      // A port free a moment ago may be taken before redis-server binds it (another process's outgoing connection): try another.
      for (let attempt = 1; ; attempt++) {
        const port = await clusterPort(next);
        next = port + 1;
        try {
          nodes.push(await startRedis({ dir, port, appendfsync: o.appendfsync ?? 'always', extraArgs, log: o.log }));
          break;
        } catch (err) {
          if (attempt >= 5 || !/Address already in use/i.test((err as Error).message)) throw err;
        }
      }
    }
    const known = parseClusterNodes(await cli(nodes[0]!.port, 'cluster', 'nodes'));
    if (known.every((n) => n.slots.length === 0)) {
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(per), '--cluster-yes'], { timeout: 60_000 });
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  const topology = async (via?: LocalRedis): Promise<ClusterNodeInfo[]> => {
    const candidates = via ? [via] : nodes;
    let last: unknown;
    for (const n of candidates) {
      try {
        return parseClusterNodes(await cli(n.port, 'cluster', 'nodes'));
      } catch (err) {
        last = err; // a killed node: ask the next
      }
    }
    throw last;
  };
  const cluster: LocalRedisCluster = {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    topology,
    async masterOf(slot) {
      const m = (await topology()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      const node = m && byPort.get(m.port);
      if (!node) throw new Error(`no live master serves slot ${slot}`);
      return node;
    },
    async reshard(from, to, count) {
      const topo = await topology();
      const id = (n: LocalRedis) => topo.find((x) => x.port === n.port)?.id ?? '';
      await run('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', id(from), '--cluster-to', id(to), '--cluster-slots', String(count), '--cluster-yes', '--cluster-pipeline', '100'], { timeout: 300_000 });
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let why = '';
        try {
          // A node that does not answer (killed by a test) is not asked; every node that answers must say ok.
          const infos = (await Promise.all(nodes.map((n) => cli(n.port, 'cluster', 'info').catch(() => null)))).filter((i): i is string => i !== null);
          const ok = infos.length > 0 && infos.every((i) => /cluster_state:ok/.test(i));
          const served = (await topology()).filter((n) => n.role === 'master' && !n.failed).reduce((s, n) => s + n.slots.reduce((a, [x, y]) => a + (y - x + 1), 0), 0);
          if (ok && served === 16384) return;
          why = `state ok on every node: ${ok}, slots served: ${served}`;
        } catch (err) {
          why = (err as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`Redis Cluster not healthy within ${timeoutMs} ms (${why})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    destroy,
  };
  try {
    await cluster.waitHealthy(60_000);
    // Replicas attach after the create command returns: a failover test needs them attached.
    const deadline = Date.now() + 60_000;
    while ((await topology()).filter((n) => n.role === 'replica').length < masters * per) {
      if (Date.now() > deadline) throw new Error('Redis Cluster replicas did not attach within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return cluster;
}

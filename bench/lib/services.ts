/**
 * The one place bench/ starts Sluice and baseline processes. Sluice runs as
 * `pnpm start` runs it (scripts/start.ts): the same three compiled entry
 * points (`pnpm build` output, no tsx), with the environment given and every
 * other setting at its default. The bench builds first (`tsc -b` is
 * incremental: seconds when nothing changed), so the figures are never those
 * of a stale build.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '@sluice/shared/config/index.ts';
import type { Tracked } from './cpu.ts';
import { REPO_ROOT, startTsProcess, type TsProcess } from './shared.ts';

/** A process `pnpm start` runs. */
export type ServiceName = 'gateway' | 'writer' | 'warmer';

/** Entry points, and the line each logs once it serves (logged at every level but `silent`). */
const SERVICES: Record<ServiceName, { file: string; ready: RegExp }> = {
  writer: { file: 'writer/dist/main.js', ready: /writer started/ },
  gateway: { file: 'gateway/dist/main.js', ready: /gateway listening/ },
  warmer: { file: 'writer/dist/warmer/main.js', ready: /warmer started/ },
};

let built = false;
/** `pnpm build`, once per bench run, before the first service starts. */
function ensureBuilt(): void {
  if (built) return;
  process.stdout.write('building (pnpm build: the bench measures the compiled code pnpm start runs)\n');
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT, stdio: 'inherit' });
  built = true;
}

/** A started process and the CPU column it is counted under. */
export interface Running {
  column: string;
  proc: TsProcess;
}

const PROFILER = join(REPO_ROOT, 'bench', 'lib', 'cpu-profiler.mjs');

/** How to start services. */
export interface ServiceOptions {
  env: Record<string, string>;
  /** Write CPU profiles (`.cpuprofile`, as `--cpu-prof` does) of the services named in `services` to `<dir>/<process name>/`. */
  profile?: { dir: string; services: readonly ServiceName[] };
}

/**
 * Environment that profiles a process into `dir`. Node refuses --cpu-prof in
 * NODE_OPTIONS; a preloaded module starts the same profiler, so the command
 * line stays exactly what `pnpm start` runs. The profile is written at exit.
 */
function profiling(dir: string): Record<string, string> {
  return { NODE_OPTIONS: `--import ${PROFILER}`, BENCH_CPU_PROF_DIR: dir };
}

/** Start one service; `name` tells several gateways apart (and names the profile folder). */
export async function startService(service: ServiceName, o: ServiceOptions, name: string = service): Promise<Running> {
  const env = o.profile?.services.includes(service) ? { ...o.env, ...profiling(join(o.profile.dir, name)) } : o.env;
  checkServiceEnv(name, env);
  ensureBuilt();
  const { file, ready } = SERVICES[service];
  // The warmer preloads the hottest keys before it reports ready.
  const proc = await startTsProcess(file, { env, ready, name, timeoutMs: 120_000 });
  return { column: service === 'gateway' ? 'app' : service, proc };
}

/**
 * Refuse, before spawning, an environment the service's own config check
 * would refuse: the bench stops with the reason rather than "exited with
 * code 78" after a wait (how the Zipf runs broke unnoticed when the
 * popularity bound landed). The services read process.env plus `env`.
 */
export function checkServiceEnv(name: string, env: Readonly<Record<string, string>>): void {
  try {
    loadConfig({ ...process.env, ...env });
  } catch (err) {
    throw new Error(`bench: ${name} would refuse its environment: ${(err as Error).message}`);
  }
}

/** Start what `pnpm start` starts (gateway, writer, warmer) at once, as it does; or the services named. */
export async function startStack(o: ServiceOptions, services: readonly ServiceName[] = ['writer', 'gateway', 'warmer']): Promise<Running[]> {
  const started = await Promise.allSettled(services.map((s) => startService(s, o)));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll(ok);
    throw failed.reason;
  }
  return ok;
}

/** Start a baseline server (bench/baselines/*.ts), profiled into `profileDir` when given; it prints `listening` when it serves. */
export async function startBaseline(file: string, args: string[], name: string, profileDir?: string): Promise<Running> {
  const env = profileDir === undefined ? {} : profiling(profileDir);
  return { column: 'app', proc: await startTsProcess(file, { args, env, ready: /listening/, name }) };
}

/** The CPU accounting entries of running processes. */
export function tracked(running: readonly Running[]): Tracked[] {
  return running.map((r) => ({ name: r.column, pid: r.proc.pid }));
}

/** Stop processes, newest first, ignoring errors (SIGTERM: they drain, and write their profiles). */
export async function stopAll(running: Running[]): Promise<void> {
  for (const r of running.splice(0).reverse()) await r.proc.stop().catch(() => {});
}

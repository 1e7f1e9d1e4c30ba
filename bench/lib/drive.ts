/**
 * Runs the load generator (bench/load/generator.ts) in its own process and
 * reads the CPU of the processes under test when its measured window opens
 * and closes: everything a scenario reports comes from one window.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadResult, LoadSpec } from '../load/generator.ts';
import { cpuDelta, sampleCpu, type CpuSample, type Tracked } from './cpu.ts';
import { REPO_ROOT } from './shared.ts';

/** One measured window. */
export interface Measured {
  load: LoadResult;
  /** CPU (µs) each column used over the window; `loadgen` is the generator's own. */
  cpuUs: CpuSample;
  /** From the generator's start line to after `settle`. */
  windowMs: number;
  /** The window on the monotonic clock (µs), which `--cpu-prof` timestamps use too. */
  monoUs: [number, number];
}

/** Work tied to the window's edges. */
export interface DriveHooks {
  /** Runs when the window opens (e.g. count rows). */
  onStart?: () => Promise<void>;
  /** Runs after the load stops and before the closing CPU reading (e.g. wait until the backlog is committed). */
  settle?: () => Promise<void>;
}

const monoUs = () => Number(process.hrtime.bigint() / 1000n);

/** Drive `spec` and account the CPU of `tracked` over its measured window. */
export async function drive(spec: LoadSpec, tracked: readonly Tracked[], hooks: DriveHooks = {}): Promise<Measured> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/load/generator.ts'), JSON.stringify(spec)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let s0: CpuSample = {};
  let t0 = 0;
  let started: Promise<void> = Promise.resolve();
  let ended: Promise<[CpuSample, number]> | undefined;
  let result: LoadResult | undefined;
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line === 'start') {
      s0 = sampleCpu(tracked);
      t0 = monoUs();
      started = hooks.onStart?.() ?? Promise.resolve();
      started.catch(() => {}); // awaited (and thrown) below; not unhandled meanwhile
    } else if (line === 'end') {
      ended = (async () => {
        await started;
        await hooks.settle?.();
        return [sampleCpu(tracked), monoUs()] as [CpuSample, number];
      })();
      ended.catch(() => {}); // awaited (and thrown) below
    } else if (line.startsWith('{')) {
      result = JSON.parse(line) as LoadResult;
    }
  }
  const code = await exited;
  if (result === undefined || ended === undefined) throw new Error(`load generator exited with ${code} and no result`);
  const [s1, t1] = await ended;
  const cpuUs = { ...cpuDelta(s0, s1), loadgen: result.selfCpuUsPerRequest * result.requests };
  return { load: result, cpuUs, windowMs: (t1 - t0) / 1000, monoUs: [t0, t1] };
}

/** Load not measured: JIT, pools, prepared statements, caches. */
export async function warmUp(spec: LoadSpec, ms = 3000): Promise<void> {
  await drive({ ...spec, durationMs: ms, progressMs: 0 }, []);
}

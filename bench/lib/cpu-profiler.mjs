// Loaded with `NODE_OPTIONS=--import <this file>` by bench/lib/services.ts:
// what `node --cpu-prof --cpu-prof-dir=$BENCH_CPU_PROF_DIR` does (that flag
// is not allowed in NODE_OPTIONS), through the same V8 profiler. The profile
// is written when the process exits: Sluice's services exit after their
// SIGTERM drain; a process with no SIGTERM handler of its own (a baseline)
// is made to exit on it here, as Node's default would, but through 'exit'.
// Plain JavaScript: it loads before tsx.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir && isMainThread) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 }); // µs, as --cpu-prof
  session.post('Profiler.start');
  process.on('SIGTERM', () => {
    if (process.listenerCount('SIGTERM') === 1) process.exit(143);
  });
  process.on('exit', () => {
    // A same-thread session answers synchronously, so this completes before the process ends.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

// Loaded with `NODE_OPTIONS=--import <this file>` by bench/lib/services.ts:
// what `node --cpu-prof --cpu-prof-dir=$BENCH_CPU_PROF_DIR` does (that flag
// is not allowed in NODE_OPTIONS), through the same V8 profiler. The profile
// is written when the process exits (process.exit after a SIGTERM drain).
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
  process.on('exit', () => {
    // A same-thread session answers synchronously, so this completes before the process ends.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

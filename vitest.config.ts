import { defineConfig } from 'vitest/config';

// Options every project repeats. Projects don't `extends: true` on purpose:
// that would also inherit the root globalSetup and start a second set of
// servers per project. The root project's globalSetup runs once and its
// provided URLs are visible to every project.
const common = {
  pool: 'forks' as const, // child processes: tests send signals and spawn servers; a crash stays in its fork
  testTimeout: 30_000,
  hookTimeout: 60_000,
  teardownTimeout: 30_000,
  exclude: ['**/node_modules/**'],
};

export default defineConfig({
  test: {
    globalSetup: ['test/harness/global-setup.ts'],
    projects: [
      {
        test: {
          ...common,
          name: 'integration',
          include: ['test/**/*.test.ts', 'shared/**/*.test.ts', 'gateway/**/*.test.ts', 'writer/**/*.test.ts', 'openfeature/**/*.test.ts'],
          exclude: [...common.exclude, 'test/faults/**'],
          // Most files wait on Postgres/Redis, not CPU: more forks than the
          // default (cores - 1 = 1 on a 2-core machine) keeps the suite short.
          maxWorkers: 3,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'faults',
          // Each fault file starts, kills and freezes its own servers, after the
          // integration group. Two at a time: most of a fault file's time is spent
          // waiting (a freeze, a lease TTL, a failover), and the suite must hold
          // with a CPU hog beside it anyway (RELIABILITY, CPU starvation); one at
          // a time took CI past 15 minutes.
          include: ['test/faults/**/*.test.ts'],
          maxWorkers: 2,
          testTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

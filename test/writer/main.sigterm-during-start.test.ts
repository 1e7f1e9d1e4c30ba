/**
 * Regression: a SIGTERM that reached `writer/src/main.ts` while the writer was
 * still starting released the Redis and Postgres connections under it. The
 * start went on taking partitions over closed pools ("Cannot use a pool after
 * calling end on the pool"), then failed to register its own stop ("cannot
 * register writer: already released") and exited 1 without releasing the
 * partitions it held: nobody could take them until their leases lapsed.
 *
 * Now the shutdown lets a start under way finish (bounded), then releases
 * everything in order: exit 0, every partition released, and a second writer
 * takes them all at once although the lease is a minute long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsProcess, type TsProcess } from '@sluice/local-servers/processes.ts';
import { createTestEnv, eventually, testEnvVars, type TestEnv } from '../harness/index.ts';
import { SCHEMA, TABLES } from './helpers.ts';

const PARTITIONS = 8;
const LEASE_MS = 60_000;

describe('writer main: SIGTERM during start', () => {
  let env: TestEnv;
  const procs: TsProcess[] = [];
  beforeAll(async () => {
    env = await createTestEnv({ sql: SCHEMA });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop(2000);
    await env?.cleanup();
  });

  const vars = () => testEnvVars(env, { SLUICE_TABLES: TABLES.join(','), SLUICE_PARTITIONS: String(PARTITIONS), SLUICE_LOCK_DURATION_MS: String(LEASE_MS), SLUICE_LOG_LEVEL: 'info', SLUICE_WRITER_METRICS_PORT: '0' });
  const count = (out: string, msg: string) => out.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

  it('exits 0 with every partition it took released, so the next writer takes them without waiting for the leases', async () => {
    // Ready at its first partition: the start is still taking the others.
    const first = await startTsProcess('writer/src/main.ts', { name: 'writer-a', env: vars(), ready: /partition acquired/, timeoutMs: 30_000 });
    procs.push(first);
    first.kill('SIGTERM');
    expect(await first.exited, first.output()).toBe(0);
    const out = first.output();
    expect(out).not.toMatch(/already released|Cannot use a pool after calling end/);
    expect(count(out, 'partition released'), out).toBe(count(out, 'partition acquired'));

    const started = Date.now();
    const second = await startTsProcess('writer/src/main.ts', { name: 'writer-b', env: vars(), ready: /writer started|partition acquired/, timeoutMs: 30_000 });
    procs.push(second);
    await eventually(() => expect(count(second.output(), 'partition acquired')).toBe(PARTITIONS), LEASE_MS / 2);
    // Far below the lease: nothing was left held by the first writer.
    expect(Date.now() - started).toBeLessThan(LEASE_MS / 3);
    expect(await second.stop(30_000)).toBe(0);
    // Two writer starts (tsx compiles at each) and a stop: vitest's 30 s default is less than the
    // waits above allow, and ran out under a CPU hog (load average 12, two starts of ~12 s each).
  }, 120_000);
});

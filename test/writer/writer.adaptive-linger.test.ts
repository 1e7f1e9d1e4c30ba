/**
 * SLUICE_BATCH_LINGER_MS is a ceiling under SLUICE_ADAPTIVE_LINGER (the
 * default): a lone job on a quiet partition commits without waiting it out;
 * with the switch off it waits the whole linger. Real Postgres, Redis and
 * BullMQ; a two-second linger makes the difference plain on a busy machine.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startWriter, type Writer } from '@sluice/writer/writer.ts';
import { createTestEnv, eventually, testConfig, type TestEnv } from '../harness/index.ts';
import { logsOf, part } from '../harness/partitions.ts';
import { ins, nextJobId, payload, quiet, rows, SCHEMA, TABLES } from './helpers.ts';

let env: TestEnv;
let writer: Writer | undefined;

beforeAll(async () => {
  env = await createTestEnv({ sql: SCHEMA });
});
afterEach(async () => {
  await writer?.stop();
  writer = undefined;
  await env.pool.query('TRUNCATE events, sluice.applied_jobs');
});
afterAll(async () => env?.cleanup());

/** Start a writer with `adaptive`, queue one lone job, return ms from queueing to its commit. */
async function loneJobCommitMs(adaptive: boolean): Promise<number> {
  writer = await startWriter(testConfig(env, { SLUICE_TABLES: TABLES.join(','), SLUICE_PARTITIONS: '1', SLUICE_BATCH_LINGER_MS: '2000', SLUICE_ADAPTIVE_LINGER: String(adaptive) }), { log: quiet });
  const id = nextJobId(0);
  const t0 = performance.now();
  await logsOf(env).get(part(0)).append([{ id, data: payload(id, [ins('events', { kind: 'lone' })]) }]);
  await eventually(async () => expect(await rows(env, 'SELECT 1 FROM sluice.applied_jobs WHERE job_id = $1', [id])).toHaveLength(1), 10_000, 10);
  return performance.now() - t0;
}

describe('writer: adaptive batch linger', () => {
  it('on (default): a lone job commits without waiting the configured linger', async () => {
    expect(await loneJobCommitMs(true)).toBeLessThan(1000);
    expect(await writer!.metrics.registry.getSingleMetricAsString('sluice_writer_batch_linger_seconds')).toMatch(/^sluice_writer_batch_linger_seconds_bucket\{le="0"\} 1$/m);
  });

  it('off: a lone job waits the whole linger', async () => {
    expect(await loneJobCommitMs(false)).toBeGreaterThanOrEqual(1900);
    expect(await writer!.metrics.registry.getSingleMetricAsString('sluice_writer_batch_linger_seconds')).toMatch(/^sluice_writer_batch_linger_seconds_sum 2$/m);
  });
});

/**
 * Issue 11, finding 8: backpressure counted jobs only. With
 * SLUICE_MAX_QUEUE_DEPTH=5000, 112,394 writes were accepted before the first
 * 503 (jobs carry up to SLUICE_ENQUEUE_MAX_REQUESTS writes each): Redis memory
 * could not be sized from it. Now writes and bytes are limited too, in total
 * and per partition, and /readyz (admin) and /metrics show all three figures.
 * No writer runs here: everything accepted stays queued.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from './support.ts';

const POLL_WAIT_MS = 400; // > the gateway's backlog poll (250 ms)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Send `n` writes at once; returns their statuses. */
async function burst(t: TestGateway, n: number, kind = 'b'): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, () => t.post('/v1/tables/events', { kind, amount: 1 }).then((r) => r.status)));
}

describe('backlog limits in writes and bytes', () => {
  let t: TestGateway;
  afterAll(async () => t?.close());

  describe('total writes', () => {
    beforeAll(async () => {
      // Jobs of up to 500 writes: the job limit alone (20 000) would let 10 million writes in.
      t = await startGateway({ env: { SLUICE_MAX_QUEUE_WRITES: '300', SLUICE_ENQUEUE_MAX_REQUESTS: '500', SLUICE_ENQUEUE_LINGER_MS: '20' } });
    });

    it('refuses with 503 + Retry-After once the queued writes pass SLUICE_MAX_QUEUE_WRITES, whatever the job count', async () => {
      let accepted = 0;
      let refused: Response | undefined;
      for (let round = 0; round < 20 && refused === undefined; round++) {
        const statuses = await burst(t, 100);
        accepted += statuses.filter((s) => s === 202).length;
        if (statuses.includes(503)) refused = await t.post('/v1/tables/events', { kind: 'r', amount: 1 });
        await sleep(POLL_WAIT_MS);
        if (refused === undefined) {
          const r = await t.post('/v1/tables/events', { kind: 'r', amount: 1 });
          if (r.status === 503) refused = r;
          else accepted++;
        }
      }
      expect(refused?.status).toBe(503);
      expect(refused?.headers.get('retry-after')).toBe('1');
      expect((await json(refused!)).detail).toContain('SLUICE_MAX_QUEUE_WRITES');
      // One poll's worth past the limit at most (a round of 100 + the probe), far below what the jobs would allow.
      expect(accepted).toBeGreaterThan(300);
      expect(accepted).toBeLessThanOrEqual(300 + 101);
      // The job count is tiny: jobs coalesced the writes.
      const metrics = await (await t.request('/metrics')).text();
      const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
      expect(gauge('sluice_queue_backlog_writes')).toBe(accepted);
      expect(gauge('sluice_queue_backlog_jobs')).toBeLessThan(accepted / 5);
      expect(gauge('sluice_queue_backlog_bytes')).toBeGreaterThan(accepted * 20);
      const ready = await json(await t.request('/readyz'));
      expect(ready.details.backlog).toMatchObject({ jobs: gauge('sluice_queue_backlog_jobs'), writes: accepted, bytes: gauge('sluice_queue_backlog_bytes') });
    });
  });

  describe('bytes per partition', () => {
    beforeAll(async () => {
      await t?.close();
      t = await startGateway({ env: { SLUICE_MAX_PARTITION_BYTES: '20000', SLUICE_PARTITIONS: '4' } });
    });

    it('refuses writes routed to a partition over SLUICE_MAX_PARTITION_BYTES', async () => {
      let refused: Response | undefined;
      for (let round = 0; round < 30 && refused === undefined; round++) {
        // Keyed writes of one key all route to one partition.
        const statuses = await Promise.all(Array.from({ length: 20 }, () => t.request('/v1/tables/pairs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'hot', seq: 1, v: 'x'.repeat(500) }) }).then((r) => r.status)));
        await sleep(POLL_WAIT_MS);
        if (statuses.includes(503)) refused = await t.request('/v1/tables/pairs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'hot', seq: 1, v: 'y' }) });
      }
      expect(refused?.status).toBe(503);
      expect((await json(refused!)).detail).toContain('SLUICE_MAX_PARTITION_BYTES');
    });
  });
});

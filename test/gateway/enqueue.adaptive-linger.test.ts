import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from './support.ts';

/**
 * SLUICE_ENQUEUE_LINGER_MS is a ceiling under SLUICE_ADAPTIVE_LINGER (the
 * default): a lone request does not wait it out, a burst still coalesces.
 * A one-second linger makes the difference plain on a busy machine.
 */
const LINGER = '1000';

async function timedPost(t: TestGateway, amount: number): Promise<number> {
  const t0 = performance.now();
  const res = await t.post('/v1/tables/events', { kind: 'lone', amount });
  expect(res.status).toBe(202);
  return performance.now() - t0;
}

describe('enqueue: adaptive linger (default)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_ENQUEUE_LINGER_MS: LINGER } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lone requests are queued without waiting the configured linger', async () => {
    const took = [];
    for (let i = 0; i < 3; i++) took.push(await timedPost(t, i));
    expect(Math.max(...took)).toBeLessThan(500);
    // The metric says so too: each of those jobs opened with no wait.
    const metrics = await (await t.request('/metrics')).text();
    expect(Number(/^sluice_enqueue_linger_seconds_bucket\{le="0"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
  });

  it('a burst still coalesces into far fewer jobs than requests, each writeId in its job', async () => {
    const before = (await t.jobs()).length;
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => t.post('/v1/tables/events', { kind: 'burst', amount: i })));
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const ids = await Promise.all(responses.map(async (r) => (await json(r)).writeId as string));
    expect(new Set(ids).size).toBe(200);
    expect((await t.jobs()).length - before).toBeLessThan(50);
  });
});

describe('enqueue: fixed linger (SLUICE_ADAPTIVE_LINGER=false)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_ENQUEUE_LINGER_MS: LINGER, SLUICE_ADAPTIVE_LINGER: 'false' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a lone request waits the whole linger', async () => {
    expect(await timedPost(t, 1)).toBeGreaterThanOrEqual(950);
    const metrics = await (await t.request('/metrics')).text();
    expect(metrics).toMatch(/^sluice_enqueue_linger_seconds_bucket\{le="0\.025"\} 0$/m);
    expect(metrics).toMatch(/^sluice_enqueue_linger_seconds_count 1$/m);
  });
});

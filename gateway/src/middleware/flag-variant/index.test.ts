import { Hono } from 'hono';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '@sluice/shared/flags/bucket.ts';
import type { Flag } from '@sluice/shared/flags/evaluate.ts';
import type { GatewayEnv } from '../../context.ts';
import { flagVariant } from './index.ts';

const flag = (rollout: number, enabled = true): Flag => ({ name: 'f', enabled, rollout, description: '', version: 1, updatedBy: 't', updatedAt: '' });

function appWith(current: Flag | undefined, failOn = false) {
  const registry = new Registry();
  const app = new Hono<GatewayEnv>();
  app.use(flagVariant({ flag: 'f', flags: { get: () => current }, registry, failOn }));
  app.get('/x', (c) => c.text('ok'));
  return { app, registry };
}

async function counts(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await registry.getSingleMetric('sluice_flag_variant_requests_total')!.get()).values) out[`${v.labels.variant}:${v.labels.status}`] = v.value;
  return out;
}

// A user inside a 50 % rollout and one outside, by the shared bucketing.
const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
const inside = users.find((u) => bucketOf('f', u) <= 50)!;
const outside = users.find((u) => bucketOf('f', u) > 50)!;

describe('flagVariant', () => {
  it('counts requests naming a user by the variant of the flag for that user', async () => {
    const { app, registry } = appWith(flag(50));
    expect((await app.request('/x', { headers: { 'sluice-user-id': inside } })).status).toBe(200);
    expect((await app.request('/x', { headers: { 'sluice-user-id': outside } })).status).toBe(200);
    expect((await app.request('/x', { headers: { 'sluice-user-id': outside } })).status).toBe(200);
    // No user: not counted here.
    expect((await app.request('/x')).status).toBe(200);
    expect(await counts(registry)).toEqual({ 'on:200': 1, 'off:200': 2 });
  });

  it('a disabled or unknown flag is off for everyone', async () => {
    for (const current of [flag(100, false), undefined]) {
      const { app, registry } = appWith(current);
      await app.request('/x', { headers: { 'sluice-user-id': inside } });
      expect(await counts(registry)).toEqual({ 'off:200': 1 });
    }
  });

  it('fail point flag-on-fails: 500 problem for users with the flag on, counted; others pass', async () => {
    const { app, registry } = appWith(flag(50), true);
    const on = await app.request('/x', { headers: { 'sluice-user-id': inside } });
    expect(on.status).toBe(500);
    expect(on.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await app.request('/x', { headers: { 'sluice-user-id': outside } })).status).toBe(200);
    expect(await counts(registry)).toEqual({ 'on:500': 1, 'off:200': 1 });
  });
});

/**
 * The OpenFeature provider (`@sluice/openfeature`) against two real gateways
 * (in-process apps served over loopback HTTP, one database, one Redis):
 * the same answers as `POST /v1/flags/evaluate` for 100 k users across
 * rollouts; an admin change made through the other gateway reaching the
 * provider within 1 s; a stream cut while changes happen (healed from the
 * full set on reconnect); a message lost on a connection that stays open
 * (healed by the version check); a stream gone silent (replaced after the
 * idle timeout); the OpenFeature error codes.
 */
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlagNotFoundError, OpenFeature, ProviderEvents, type Client, type EventHandler } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '@sluice/gateway/server.ts';
import { SluiceProvider } from '@sluice/openfeature';
import { eventually } from '../harness/index.ts';
import { TcpProxy } from '../faults/support/tcp-proxy.ts';
import { json, startGateway, type TestGateway } from '../gateway/support.ts';

const KEYS = [
  { key: 'admin-key-for-ops-0123456789abcdef', scopes: ['admin'] },
  { key: 'read-key-for-apps-0123456789abcdef', scopes: ['read:events'] },
];
const ADMIN = { authorization: 'Bearer admin-key-for-ops-0123456789abcdef', 'content-type': 'application/json' };
const APP_KEY = 'read-key-for-apps-0123456789abcdef';
const APP = { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' };
const USERS = Number(process.env.OF_USERS ?? 100_000);
const SDK_USERS = 2000;

interface Served {
  t: TestGateway;
  server: Server;
  url: string;
}

async function serve(t: TestGateway): Promise<Served> {
  const { server, port } = await listen(t.gw.app, { host: '127.0.0.1', port: 0, requestTimeoutMs: 30_000 });
  return { t, server, url: `http://127.0.0.1:${port}` };
}

/** Resolve with the names of the next ConfigurationChanged event of `client` that satisfies `pred`. */
function nextChange(client: Client, pred: (names: string[]) => boolean): Promise<number> {
  return new Promise((resolve) => {
    const h: EventHandler = (d) => {
      if (!pred((d as { flagsChanged?: string[] } | undefined)?.flagsChanged ?? [])) return;
      client.removeHandler(ProviderEvents.ConfigurationChanged, h);
      resolve(performance.now());
    };
    client.addHandler(ProviderEvents.ConfigurationChanged, h);
  });
}

describe('flags: the OpenFeature provider', () => {
  let a: Served;
  let b: Served;
  const proxies: TcpProxy[] = [];
  beforeAll(async () => {
    const env = { SLUICE_API_KEYS: JSON.stringify(KEYS), SLUICE_FLAGS_RECONCILE_MS: '200' };
    const ga = await startGateway({ env });
    a = await serve(ga);
    b = await serve(await startGateway({ env, testEnv: ga.env }));
  });
  afterAll(async () => {
    await OpenFeature.close();
    for (const p of proxies) await p.stop();
    for (const s of [b, a]) {
      s?.server.closeAllConnections();
      await new Promise((r) => s?.server.close(r));
    }
    await b?.t.close(true);
    await a?.t.close();
  });

  const put = async (via: Served, name: string, body: unknown) => {
    const send = () => fetch(`${via.url}/v1/admin/flags/${name}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify(body) });
    // A keep-alive socket the gateway closed while idle (its 5 s keepAliveTimeout) fails once with ECONNRESET;
    // a PUT sets a state, so sending it again is harmless.
    const res = await send().catch(send);
    expect(res.status).toBe(200);
    return { at: performance.now(), flag: (await res.json()) as { version: number } };
  };

  /** A provider on its own OpenFeature domain, following gateway b through a proxy of its own (none when `direct`). */
  async function provider(domain: string, o: { direct?: boolean; versionCheckMs?: number; idleTimeoutMs?: number } = {}): Promise<{ p: SluiceProvider; client: Client; proxy: TcpProxy }> {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(b.url).port) });
    proxies.push(proxy);
    const p = new SluiceProvider({ url: o.direct ? b.url : proxy.url, apiKey: APP_KEY, reconnectMinMs: 50, reconnectMaxMs: 200, versionCheckMs: o.versionCheckMs ?? 0, versionGraceMs: 300, ...(o.idleTimeoutMs ? { idleTimeoutMs: o.idleTimeoutMs } : {}) });
    await OpenFeature.setProviderAndWait(domain, p);
    return { p, client: OpenFeature.getClient(domain), proxy };
  }

  it('gives the same answers as POST /v1/flags/evaluate for 100 k users across rollouts', async () => {
    const rollouts = [0, 1, 5, 10, 25, 50, 99, 100];
    let last = 0;
    for (const r of rollouts) last = (await put(a, `same-${r}`, { enabled: true, rollout: r })).flag.version;
    last = (await put(a, 'same-killed', { enabled: false, rollout: 50 })).flag.version;
    const names = [...rollouts.map((r) => `same-${r}`), 'same-killed', 'same-unknown'];
    await eventually(async () => expect((await json(await fetch(`${b.url}/v1/flags/evaluate`, { method: 'POST', headers: APP, body: JSON.stringify({ userId: 'x', flags: [] }) }))).version).toBeGreaterThanOrEqual(last), 2000);
    const { p, client } = await provider('same', { direct: true });
    expect(p.version).toBeGreaterThanOrEqual(last);

    // The gateway's own handler for every user (in process: the full app, middleware and route, without
    // paying for 100 k loopback round trips on a loaded 2-core machine); the provider's resolver for every
    // user, and the whole OpenFeature client path for the first SDK_USERS.
    let compared = 0;
    const onPerFlag = new Map<string, number>();
    for (let i = 0; i < USERS; i += 1) {
      const userId = `user-${i}`;
      const res = await b.t.request('/v1/flags/evaluate', { method: 'POST', headers: APP, body: JSON.stringify({ userId, flags: names }) });
      const gw = (await res.json()) as { flags: { name: string; enabled: boolean; version: number; reason: string }[] };
      for (const g of gw.flags) {
        if (g.reason === 'unknown') {
          // An unknown flag: the gateway says off; OpenFeature answers the caller's default with FLAG_NOT_FOUND.
          await expect(p.resolveBooleanEvaluation(g.name, true, { targetingKey: userId })).rejects.toThrow(FlagNotFoundError);
          if (i < SDK_USERS) expect((await client.getBooleanDetails(g.name, true, { targetingKey: userId })).errorCode).toBe('FLAG_NOT_FOUND');
          compared += 1;
          continue;
        }
        const r = await p.resolveBooleanEvaluation(g.name, true, { targetingKey: userId });
        if (r.value !== g.enabled || r.flagMetadata?.sluiceReason !== g.reason || r.flagMetadata?.version !== g.version) {
          throw new Error(`${g.name} for ${userId}: gateway ${JSON.stringify(g)}, provider ${JSON.stringify(r)}`);
        }
        if (i < SDK_USERS) expect(await client.getBooleanDetails(g.name, !g.enabled, { targetingKey: userId })).toMatchObject({ value: g.enabled, flagMetadata: { version: g.version } });
        if (g.enabled) onPerFlag.set(g.name, (onPerFlag.get(g.name) ?? 0) + 1);
        compared += 1;
      }
    }
    expect(compared).toBe(USERS * names.length);
    // The shares are what the rollouts say (murmur3 spreads users evenly: within 1 point at 100 k).
    for (const r of rollouts) expect(Math.abs((onPerFlag.get(`same-${r}`) ?? 0) / USERS - r / 100), `same-${r}`).toBeLessThan(0.01);
    expect(onPerFlag.get('same-killed')).toBeUndefined();
    console.log(`[openfeature] ${compared} evaluations compared with the gateway's, all equal; on per rollout: ${rollouts.map((r) => `${r}%→${onPerFlag.get(`same-${r}`) ?? 0}`).join(' ')}`);
  }, 300_000);

  it('reports OpenFeature reasons, variants and error codes', async () => {
    await put(a, 'of-half', { enabled: true, rollout: 50 });
    await put(a, 'of-all', { enabled: true, rollout: 100 });
    await put(a, 'of-off', { enabled: false, rollout: 100 });
    const { client } = await provider('codes', { direct: true });
    await eventually(async () => expect((await client.getBooleanDetails('of-off', true)).reason).toBe('DISABLED'), 2000);
    expect(await client.getBooleanDetails('of-off', true)).toMatchObject({ value: false, variant: 'off', reason: 'DISABLED' });
    expect(await client.getBooleanDetails('of-all', false)).toMatchObject({ value: true, variant: 'on', reason: 'STATIC' });
    const half = await client.getBooleanDetails('of-half', false, { targetingKey: 'user-1' });
    expect(half.reason).toBe('SPLIT');
    expect(half.variant).toBe(half.value ? 'on' : 'off');
    // `userId` works as the targeting key too.
    expect((await client.getBooleanDetails('of-half', false, { userId: 'user-1' })).value).toBe(half.value);
    expect(await client.getBooleanDetails('of-half', true)).toMatchObject({ value: true, errorCode: 'TARGETING_KEY_MISSING', reason: 'ERROR' });
    expect(await client.getBooleanDetails('of-half', true, { targetingKey: 'u'.repeat(257) })).toMatchObject({ value: true, errorCode: 'INVALID_CONTEXT' });
    expect(await client.getStringDetails('of-all', 'x')).toMatchObject({ value: 'x', errorCode: 'TYPE_MISMATCH' });
    expect(await client.getBooleanDetails('of-none', true)).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });

    const refused = new SluiceProvider({ url: b.url, apiKey: 'wrong-key-0123456789abcdef0123456789', initTimeoutMs: 5000 });
    await expect(refused.initialize()).rejects.toThrow(/refused the API key/);
    await refused.onClose();
  });

  it('a change made through the other gateway reaches the provider within 1 s', async () => {
    const { client } = await provider('propagation');
    const lags: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const enabled = i % 2 === 1; // every other change is a kill
      const seen = nextChange(client, (n) => n.includes('prop'));
      const { at, flag } = await put(i % 2 ? a : b, 'prop', { enabled, rollout: 100 });
      const arrived = await Promise.race([seen, sleep(5000).then(() => Number.NaN)]);
      lags.push(arrived - at);
      const d = await client.getBooleanDetails('prop', !enabled);
      expect(d.value).toBe(enabled);
      expect(d.flagMetadata.version).toBeGreaterThanOrEqual(flag.version);
    }
    lags.sort((x, y) => x - y);
    console.log(`[openfeature] admin call returned → provider changed, 20 changes: p50 ${lags[10]!.toFixed(1)} ms, p100 ${lags[19]!.toFixed(1)} ms`);
    // Negative: the change arrived before the admin call's answer did.
    for (const l of lags) expect(l).toBeLessThan(1000);
  });

  it('a cut stream reconnects and heals from the full set: changes and a deletion made while it was down', async () => {
    await put(a, 'cut-stays', { enabled: true, rollout: 100 });
    await put(a, 'cut-goes', { enabled: true, rollout: 100 });
    const { p, client, proxy } = await provider('cut');
    await eventually(async () => expect((await client.getBooleanDetails('cut-goes', false)).value).toBe(true), 2000);
    const stale = new Promise<void>((r) => client.addHandler(ProviderEvents.Stale, () => r()));
    const restored = new Promise<void>((r) => client.addHandler(ProviderEvents.Ready, () => r()));
    const before = p.streamStats;

    // Every chunk to the provider now kills its connection: the change below is lost with it, and each reconnection dies too.
    proxy.cut({ toServer: 0, toClient: 1 });
    const killed = await put(a, 'cut-stays', { enabled: false, rollout: 100 });
    const del = await fetch(`${a.url}/v1/admin/flags/cut-goes`, { method: 'DELETE', headers: ADMIN });
    expect(del.status).toBe(200);
    await stale;
    // While down, the last set answers.
    expect((await client.getBooleanDetails('cut-goes', false)).value).toBe(true);
    await sleep(500);
    expect(proxy.cuts.toClient).toBeGreaterThan(1);

    proxy.heal();
    await restored;
    await eventually(async () => {
      expect(await client.getBooleanDetails('cut-stays', true)).toMatchObject({ value: false, reason: 'DISABLED', flagMetadata: { version: killed.flag.version } });
      expect((await client.getBooleanDetails('cut-goes', true)).errorCode).toBe('FLAG_NOT_FOUND');
    }, 3000);
    expect(p.streamStats.connections).toBeGreaterThan(before.connections + 1);
    expect(p.streamStats.fullSets).toBe(before.fullSets + 1);
  });

  it('a message lost on a connection that stays open is healed by the version check', async () => {
    await put(a, 'lost', { enabled: true, rollout: 100 });
    const { p, client, proxy } = await provider('lost', { versionCheckMs: 300 });
    await eventually(async () => expect((await client.getBooleanDetails('lost', false)).value).toBe(true), 2000);
    const before = p.streamStats;
    proxy.swallowToClient(1);
    const { at, flag } = await put(a, 'lost', { enabled: false, rollout: 100 });
    await eventually(async () => expect(proxy.swallowed).toBeGreaterThan(0), 2000);
    await eventually(async () => expect((await client.getBooleanDetails('lost', true)).flagMetadata.version).toBe(flag.version), 5000);
    console.log(`[openfeature] a lost message healed by the version check after ${(performance.now() - at).toFixed(0)} ms (check every 300 ms, grace 300 ms)`);
    // The heal came from a new connection's full set, not from the swallowed event.
    expect(p.streamStats.connections).toBe(before.connections + 1);
    expect(p.streamStats.fullSets).toBe(before.fullSets + 1);
  });

  it('a stream gone silent (nothing delivered, connection kept open) is replaced after the idle timeout', async () => {
    await put(a, 'silent', { enabled: true, rollout: 100 });
    // 2 s idle here (45 s by default, three of the gateway's 15 s keep-alives): a healthy idle stream is replaced now and then too, harmlessly.
    const { p, client, proxy } = await provider('silent', { idleTimeoutMs: 2000 });
    await eventually(async () => expect((await client.getBooleanDetails('silent', false)).value).toBe(true), 2000);
    const before = p.streamStats;
    proxy.freezeOpenConnections();
    const { flag } = await put(a, 'silent', { enabled: false, rollout: 100 });
    await eventually(async () => expect((await client.getBooleanDetails('silent', true)).flagMetadata.version).toBe(flag.version), 6000);
    expect(p.streamStats.connections).toBeGreaterThan(before.connections);
    expect(p.streamStats.fullSets).toBeGreaterThan(before.fullSets);
  });
});

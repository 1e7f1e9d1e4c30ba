/**
 * Flag propagation as a user sees it: one SSE listener on `GET
 * /v1/flags/stream` of every gateway (a gateway sends a change there once its
 * own copy holds it, i.e. once it evaluates the new version), and `changes`
 * admin PUTs one after the other through the gateways in turn. For each
 * change: from the PUT's answer (and from its sending) to the arrival of that
 * version on every gateway's stream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SseParser } from '../lib/shared.ts';

/** Latency summary, ms. */
export interface Spread {
  p50: number;
  p99: number;
  p100: number;
}

/** What the propagation run measured. */
export interface PropagationResult {
  changes: number;
  /** PUT answered → the last gateway's stream carried the version (negative: before the answer was read). */
  afterReturn: Spread;
  /** PUT sent → the last gateway's stream carried the version. */
  afterSend: Spread;
  /** PUT answered → each gateway's stream, p100 per gateway. */
  perGatewayP100: number[];
  /** Changes some gateway's stream carried only after the PUT's answer. */
  arrivedAfterReturn: number;
}

/** One gateway's stream: the arrival time of every version it carried. */
class Listener {
  readonly arrivals = new Map<number, number>();
  private waiters: { version: number; resolve: () => void }[] = [];
  private readonly ctrl = new AbortController();
  private done: Promise<void> | undefined;

  constructor(private readonly url: string) {}

  /** Connect; resolves once the first full set arrived. */
  async start(): Promise<void> {
    const res = await fetch(`${this.url}/v1/flags/stream`, { signal: this.ctrl.signal });
    if (res.status !== 200 || res.body === null) throw new Error(`${this.url}/v1/flags/stream answered ${res.status}`);
    let first!: () => void;
    const firstSet = new Promise<void>((r) => (first = r));
    this.done = (async () => {
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of res.body!) {
        const now = performance.now();
        for (const ev of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
          if (ev.event === 'flags') first();
          else if (ev.event === 'flag') this.arrived(Number(ev.id), now);
        }
      }
    })().catch(() => {});
    await firstSet;
  }

  private arrived(version: number, at: number): void {
    this.arrivals.set(version, at);
    this.waiters = this.waiters.filter((w) => {
      if (w.version > version) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `version` (or a later one) arrived. */
  seen(version: number): Promise<void> {
    for (const v of this.arrivals.keys()) if (v >= version) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ version, resolve }));
  }

  async stop(): Promise<void> {
    this.ctrl.abort();
    await this.done;
  }
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), p100: s[s.length - 1]! };
}

/** Run `changes` changes of one flag through `urls` in turn, each waited for on every gateway's stream. */
export async function measurePropagation(urls: string[], changes: number): Promise<PropagationResult> {
  const listeners = urls.map((u) => new Listener(u));
  await Promise.all(listeners.map((l) => l.start()));
  const afterReturn: number[] = [];
  const afterSend: number[] = [];
  const perGateway: number[][] = urls.map(() => []);
  let arrivedAfterReturn = 0;
  try {
    for (let i = 0; i < changes; i += 1) {
      const sent = performance.now();
      const res = await fetch(`${urls[i % urls.length]}/v1/admin/flags/bench-propagation`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        // Rollouts 1…100 in turn: each PUT is a new version, as a stepped rollout makes them.
        body: JSON.stringify({ enabled: true, rollout: (i % 100) + 1 }),
      });
      const returned = performance.now();
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
      const { version } = (await res.json()) as { version: number };
      const all = Promise.all(listeners.map((l) => l.seen(version)));
      const timedOut = await Promise.race([all.then(() => false), sleep(10_000).then(() => true)]);
      if (timedOut) throw new Error(`version ${version} did not reach every gateway's stream within 10 s`);
      const arrivals = listeners.map((l) => l.arrivals.get(version) ?? Math.min(...[...l.arrivals].filter(([v]) => v >= version).map(([, t]) => t)));
      const last = Math.max(...arrivals);
      afterReturn.push(last - returned);
      afterSend.push(last - sent);
      arrivals.forEach((t, g) => perGateway[g]!.push(t - returned));
      if (last > returned) arrivedAfterReturn += 1;
    }
  } finally {
    await Promise.all(listeners.map((l) => l.stop()));
  }
  return { changes, afterReturn: spread(afterReturn), afterSend: spread(afterSend), perGatewayP100: perGateway.map((xs) => Math.max(...xs)), arrivedAfterReturn };
}

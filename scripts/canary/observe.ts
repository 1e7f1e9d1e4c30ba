import type { HaproxyRuntime } from './haproxy.ts';
import type { Side } from './judge.ts';

/**
 * Counters of every server of the backend read at one moment: HAProxy's
 * per-server stats, each gateway's /metrics and node id, and the dead letters
 * created since the rollout began, attributed to gateway nodes by their job
 * ids (`<shard>.<epoch>.<index>.<node>.<seq>`, shared/src/queue/ids.ts). Two
 * snapshots taken around a window give both sides' figures for exactly that
 * window (`sideOf`).
 */

/** One server's counters. */
export interface ServerCounters {
  responses: number;
  errors: number;
  /** Open sessions now (drained when 0). */
  sessions: number;
  weight: number;
  /** null when the gateway's /metrics did not answer (its side is then judged on HAProxy's figures). */
  metrics: { buckets: Map<number, number>; enqueued: number; enqueueFailures: number } | null;
  node: string | null;
}

/** A snapshot: per server, and the dead letters by node. */
export interface Snapshot {
  at: number;
  servers: Map<string, ServerCounters>;
  deadLettersByNode: Map<string, number>;
}

/** Where the controller reads Sluice's own figures. */
export interface SluiceSource {
  /** A gateway or the load balancer, for the dead-letter admin API. */
  url: string;
  /** An API key with the admin scope. */
  adminKey: string | undefined;
  /** The dead letters created at or after this moment are counted. */
  since: Date;
}

const num = (v: string | undefined) => (v === undefined || v === '' ? 0 : Number(v));

function metricValue(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

function buckets(text: string): Map<number, number> {
  const out = new Map<number, number>();
  // One series per route and method: summed per bound, the gateway's whole histogram.
  const re = /^sluice_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/gm;
  for (const m of text.matchAll(re)) {
    const le = /(?:^|,)le="([^"]+)"/.exec(m[1]!)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + Number(m[2]));
  }
  return out;
}

async function gatewayFigures(addr: string, adminKey: string | undefined): Promise<{ node: string | null; metrics: ServerCounters['metrics'] }> {
  // /metrics is behind the admin scope when auth is on.
  const get = (path: string) => fetch(`http://${addr}${path}`, { headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {}, signal: AbortSignal.timeout(2000) });
  const [live, metrics] = await Promise.allSettled([get('/livez').then((r) => r.json() as Promise<{ node?: string }>), get('/metrics').then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))]);
  const node = live.status === 'fulfilled' ? (live.value.node ?? null) : null;
  if (metrics.status !== 'fulfilled') return { node, metrics: null };
  const t = metrics.value;
  return { node, metrics: { buckets: buckets(t), enqueued: metricValue(t, 'sluice_requests_enqueued_total'), enqueueFailures: metricValue(t, 'sluice_enqueue_failures_total') + metricValue(t, 'sluice_writes_rejected_total') } };
}

/** Dead letters created since `src.since`, counted by the gateway node in their job id. */
async function deadLettersByNode(src: SluiceSource): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after: number | null = null;
  for (let page = 0; page < 50; page += 1) {
    const q = new URLSearchParams({ state: 'all', since: src.since.toISOString(), limit: '500', ...(after === null ? {} : { after: String(after) }) });
    const res = await fetch(`${src.url.replace(/\/$/, '')}/v1/admin/dead-letters?${q}`, { headers: src.adminKey ? { authorization: `Bearer ${src.adminKey}` } : {}, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET /v1/admin/dead-letters: HTTP ${res.status}`);
    const body = (await res.json()) as { items: { jobId: string }[]; next: number | null };
    for (const d of body.items) {
      const node = d.jobId.split('.')[3];
      if (node !== undefined) out.set(node, (out.get(node) ?? 0) + 1);
    }
    if (body.next === null) break;
    after = body.next;
  }
  return out;
}

/** Read every counter now. */
export async function snapshot(h: HaproxyRuntime, backend: string, src: SluiceSource): Promise<Snapshot> {
  const at = Date.now();
  const [stats, addrs, dl] = await Promise.all([h.stats(backend), h.addresses(backend), deadLettersByNode(src)]);
  const servers = new Map<string, ServerCounters>();
  await Promise.all(
    [...stats].map(async ([name, s]) => {
      const addr = addrs.get(name);
      const g = addr === undefined ? { node: null, metrics: null } : await gatewayFigures(addr, src.adminKey);
      servers.set(name, {
        responses: num(s.hrsp_1xx) + num(s.hrsp_2xx) + num(s.hrsp_3xx) + num(s.hrsp_4xx) + num(s.hrsp_5xx) + num(s.hrsp_other),
        // econ/eresp: requests HAProxy could not get an answer for (a client saw a 502/503 of the proxy).
        errors: num(s.hrsp_5xx) + num(s.econ) + num(s.eresp),
        sessions: num(s.scur),
        weight: num(s.weight),
        metrics: g.metrics,
        node: g.node,
      });
    }),
  );
  return { at, servers, deadLettersByNode: dl };
}

/**
 * What `names` did between `a` and `b`, summed. Dead letters count for the
 * nodes seen in either snapshot (a restarted gateway has a new node id).
 * A gateway's counters that went down (it restarted) count from zero.
 */
export function sideOf(a: Snapshot, b: Snapshot, names: readonly string[]): Side {
  const side: Side = { responses: 0, errors: 0, latency: [], enqueued: 0, enqueueFailures: 0, deadLetters: 0 };
  const latency = new Map<number, number>();
  const nodes = new Set<string>();
  const delta = (x: number, y: number) => (y >= x ? y - x : y);
  for (const n of names) {
    const x = a.servers.get(n);
    const y = b.servers.get(n);
    if (x === undefined || y === undefined) continue;
    side.responses += delta(x.responses, y.responses);
    side.errors += delta(x.errors, y.errors);
    if (x.node) nodes.add(x.node);
    if (y.node) nodes.add(y.node);
    if (x.metrics && y.metrics) {
      const restarted = y.node !== x.node;
      side.enqueued += restarted ? y.metrics.enqueued : delta(x.metrics.enqueued, y.metrics.enqueued);
      side.enqueueFailures += restarted ? y.metrics.enqueueFailures : delta(x.metrics.enqueueFailures, y.metrics.enqueueFailures);
      for (const [le, c] of y.metrics.buckets) latency.set(le, (latency.get(le) ?? 0) + (restarted ? c : delta(x.metrics.buckets.get(le) ?? 0, c)));
    }
  }
  for (const node of nodes) side.deadLetters += delta(a.deadLettersByNode.get(node) ?? 0, b.deadLettersByNode.get(node) ?? 0);
  side.latency = [...latency].sort((p, q) => p[0] - q[0]).map(([le, count]) => ({ le, count }));
  return side;
}

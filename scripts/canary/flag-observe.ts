import type { Side } from './judge.ts';
import { emptySide } from './window.ts';

/**
 * The two sides of a flag rollout, read from every gateway's /metrics at one
 * moment: requests that named their user (`Sluice-User-Id`), counted by the
 * variant of the flag under rollout for that user (`sluice_flag_variant_*`,
 * gateway/src/middleware/flag-variant). Two snapshots around a window give
 * both sides' figures for exactly that window (`variantSides`).
 */

/** One variant's counters on one gateway. */
interface VariantCounters {
  responses: number;
  errors: number;
  buckets: Map<number, number>;
}

/** A snapshot: per gateway (null: its /metrics did not answer), per variant. */
export interface VariantSnapshot {
  at: number;
  gateways: Map<string, { on: VariantCounters; off: VariantCounters } | null>;
}

/** Where the controller reads the gateways. */
export interface VariantSource {
  /** Gateway base URLs (each one, not the load balancer: counters are per process). */
  gateways: readonly string[];
  adminKey: string | undefined;
  flag: string;
}

const SAMPLE = /^([a-z_:][a-z0-9_:]*)\{([^}]*)\} (\S+)$/;

/** Samples of the metric `name` with their labels. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = SAMPLE.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The flag's variant counters in one /metrics page; throws when the gateway does not label by a flag at all. */
export function variantCounters(text: string, flag: string): { on: VariantCounters; off: VariantCounters } {
  if (!text.includes('# TYPE sluice_flag_variant_requests_total')) throw new Error('the gateway does not label requests by a flag variant (start it with SLUICE_ROLLOUT_FLAG)');
  const side = (): VariantCounters => ({ responses: 0, errors: 0, buckets: new Map() });
  const out = { on: side(), off: side() };
  for (const s of samples(text, 'sluice_flag_variant_requests_total')) {
    if (s.labels.flag !== flag || (s.labels.variant !== 'on' && s.labels.variant !== 'off')) continue;
    const v = out[s.labels.variant];
    v.responses += s.value;
    // 5xx: what a client saw as a failure (as the canary's HAProxy figures).
    if (Number(s.labels.status) >= 500) v.errors += s.value;
  }
  for (const s of samples(text, 'sluice_flag_variant_request_duration_seconds_bucket')) {
    if (s.labels.flag !== flag || (s.labels.variant !== 'on' && s.labels.variant !== 'off') || s.labels.le === undefined) continue;
    const bound = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    const b = out[s.labels.variant].buckets;
    b.set(bound, (b.get(bound) ?? 0) + s.value);
  }
  return out;
}

/** Read every gateway now. A gateway that does not answer counts as null; one that answers without the flag's metrics throws (a setup error). */
export async function variantSnapshot(src: VariantSource): Promise<VariantSnapshot> {
  const at = Date.now();
  const gateways = new Map<string, { on: VariantCounters; off: VariantCounters } | null>();
  await Promise.all(
    src.gateways.map(async (url) => {
      let text: string;
      try {
        const res = await fetch(`${url.replace(/\/$/, '')}/metrics`, { headers: src.adminKey ? { authorization: `Bearer ${src.adminKey}` } : {}, signal: AbortSignal.timeout(2000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        text = await res.text();
      } catch {
        gateways.set(url, null);
        return;
      }
      try {
        gateways.set(url, variantCounters(text, src.flag));
      } catch (err) {
        throw new Error(`${url}: ${(err as Error).message}`);
      }
    }),
  );
  if ([...gateways.values()].every((g) => g === null)) throw new Error('no gateway answered /metrics');
  return { at, gateways };
}

/** What users with the flag on (candidate) and off (control) did between `a` and `b`, summed over the gateways seen in both. */
export function variantSides(a: VariantSnapshot, b: VariantSnapshot): { candidate: Side; control: Side } {
  // A counter that went down belongs to a restarted gateway: it counts from zero.
  const delta = (x: number, y: number) => (y >= x ? y - x : y);
  const sum = (variant: 'on' | 'off'): Side => {
    const side = emptySide();
    const latency = new Map<number, number>();
    for (const [url, y] of b.gateways) {
      const x = a.gateways.get(url);
      if (x == null || y === null) continue;
      side.responses += delta(x[variant].responses, y[variant].responses);
      side.errors += delta(x[variant].errors, y[variant].errors);
      for (const [le, c] of y[variant].buckets) latency.set(le, (latency.get(le) ?? 0) + delta(x[variant].buckets.get(le) ?? 0, c));
    }
    side.latency = [...latency].sort((p, q) => p[0] - q[0]).map(([le, count]) => ({ le, count }));
    return side;
  };
  return { candidate: sum('on'), control: sum('off') };
}

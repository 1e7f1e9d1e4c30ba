/**
 * Jepsen-style set checker. Every client operation is logged as
 *   ok       the gateway acknowledged it (202 queued, 201/200 committed, or
 *            504: queued in Redis but not committed in time),
 *   failed   the gateway refused it (4xx, 503: nothing was queued),
 *   unknown  no answer (timeout, dropped connection, other 5xx), or a 503
 *            saying `writeStatus: "unknown"` (Redis did not confirm the job).
 * After the faults heal and the queue drains, the database is read back:
 *   lost        = acknowledged − committed      must be empty
 *   unexpected  = committed − attempted         must be empty
 *   duplicates  = ops applied more than once    must be empty
 *   order       = per key, applied values strictly increase (each client
 *                 sends a key's next value only after the previous answer)
 */
import type { Queryable } from '@sluice/shared/db/pool.ts';

/** How one client operation ended. */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** One client operation. */
export interface Op {
  /** Unique id, stored in the row (`op` column). */
  id: string;
  kind: 'insert' | 'upsert';
  /** Upserts: the key and the value written. */
  key?: string;
  v?: number;
  ack: 'queued' | 'committed';
  /** HTTP status; 0 when there was no answer. */
  status: number;
  outcome: Outcome;
  /** performance.now() at send and at answer (ms). */
  start: number;
  end: number;
  /** `Retry-After` of a 429/503 answer. */
  retryAfter?: string | null;
}

/** Classify an HTTP answer for the op log. */
export function outcomeOf(status: number, ack: Op['ack']): Outcome {
  if (ack === 'queued' ? status === 202 : status === 200 || status === 201) return 'ok';
  // 504 on a committed ack: the write is in Redis, only the commit wait ran out.
  if (ack === 'committed' && status === 504) return 'ok';
  if (status >= 400 && status < 500) return 'failed';
  if (status === 503) return 'failed';
  return 'unknown';
}

/** The op log of a run. */
export class History {
  readonly ops: Op[] = [];

  add(op: Op): void {
    this.ops.push(op);
  }

  /** Ops with this outcome. */
  count(outcome: Outcome): number {
    return this.ops.filter((o) => o.outcome === outcome).length;
  }

  /** Acknowledged ops. */
  acknowledged(): Op[] {
    return this.ops.filter((o) => o.outcome === 'ok');
  }
}

/** What the checker found. Lists are op ids (upserts: `k=v` pairs for order). */
export interface Verdict {
  attempted: number;
  acknowledged: number;
  failed: number;
  unknown: number;
  committed: number;
  lost: string[];
  unexpected: string[];
  duplicates: string[];
  orderViolations: string[];
  /** Refused ops that were applied anyway (a definite "no" that was not): must be empty. */
  failedButCommitted: string[];
}

interface Applied {
  /** op id → times applied */
  times: Map<string, number>;
  /** key → applied values in application order */
  perKey: Map<string, number[]>;
}

/**
 * What the databases hold. With several shards (a list of pools), ops are
 * counted on every shard (a row copied by a move and not cleaned up would be
 * a duplicate) and each key's applied values are merged in time order.
 */
async function readApplied(dbs: readonly Queryable[]): Promise<Applied> {
  const times = new Map<string, number>();
  const history: { k: string; v: number; op: string; at: number; n: number }[] = [];
  for (const db of dbs) {
    const items = await db.query<{ op: string; n: string }>('SELECT op, count(*) AS n FROM f_items GROUP BY op');
    for (const r of items.rows) times.set(r.op, (times.get(r.op) ?? 0) + Number(r.n));
    const hist = await db.query<{ k: string; v: number; op: string; at: Date; n: string }>('SELECT k, v, op, at, n FROM f_key_history ORDER BY n');
    for (const r of hist.rows) history.push({ k: r.k, v: r.v, op: r.op, at: r.at.getTime(), n: Number(r.n) });
  }
  // One shard: its own order (n). Several: a key's values were applied on one shard, then on the next.
  if (dbs.length > 1) history.sort((a, b) => a.at - b.at || a.n - b.n);
  const perKey = new Map<string, number[]>();
  for (const r of history) {
    times.set(r.op, (times.get(r.op) ?? 0) + 1);
    const list = perKey.get(r.k) ?? [];
    list.push(r.v);
    perKey.set(r.k, list);
  }
  return { times, perKey };
}

/** Read the database back and compare it with the op log. */
export async function check(db: Queryable | readonly Queryable[], h: History): Promise<Verdict> {
  const { times, perKey } = await readApplied(Array.isArray(db) ? db : [db as Queryable]);
  const byId = new Map(h.ops.map((o) => [o.id, o]));
  const orderViolations: string[] = [];
  for (const [k, vs] of perKey) {
    for (let i = 1; i < vs.length; i++) if (vs[i]! <= vs[i - 1]!) orderViolations.push(`${k}: ${vs[i - 1]} then ${vs[i]}`);
  }
  return {
    attempted: h.ops.length,
    acknowledged: h.count('ok'),
    failed: h.count('failed'),
    unknown: h.count('unknown'),
    committed: times.size,
    lost: h.acknowledged().filter((o) => !times.has(o.id)).map((o) => o.id),
    unexpected: [...times.keys()].filter((id) => !byId.has(id)),
    duplicates: [...times].filter(([, n]) => n > 1).map(([id]) => id),
    orderViolations,
    failedButCommitted: h.ops.filter((o) => o.outcome === 'failed' && times.has(o.id)).map((o) => o.id),
  };
}

/** Percentile (0–100) of latencies in ms of `ops` (answered ones). */
export function percentile(ops: readonly Op[], p: number): number {
  const xs = ops.filter((o) => o.status > 0).map((o) => o.end - o.start).sort((a, b) => a - b);
  if (xs.length === 0) return 0;
  return xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
}

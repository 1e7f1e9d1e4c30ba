/**
 * Who should own how many partitions: a pure function of what every writer
 * can see in Redis (the live writer set and each lease's holder), so all
 * writers reach the same answer without talking to each other.
 */

/** What one writer sees at a rebalance check. */
export interface ShareView {
  me: string;
  /** Live writer ids (heartbeat not expired), sorted; `me` is added if missing. */
  live: readonly string[];
  /** Holder of each partition's lease (null: free). */
  owners: readonly (string | null)[];
  /** Consecutive checks each partition has been seen free. */
  freeChecks: readonly number[];
  /** Partitions this writer holds (in any state). */
  held: ReadonlySet<number>;
}

/** One step toward the fair share. */
export type SharePlan = { kind: 'acquire'; partitions: number[] } | { kind: 'release'; partitions: number[] } | { kind: 'none' };

/**
 * A partition free for this many checks is taken by the least-loaded writer
 * even beyond its share: a peer that heartbeats but cannot start consumers
 * must not leave a partition unconsumed.
 */
export const STUCK_CHECKS = 3;

/** Fair share of writer `index` among `n`: P/n, the first P mod n writers (by id) one more. */
export function targetOf(index: number, n: number, partitions: number): number {
  return Math.floor(partitions / n) + (index < partitions % n ? 1 : 0);
}

/** Decide the next step for `view.me` (see the module comment). */
export function planShare(view: ShareView): SharePlan {
  const live = view.live.includes(view.me) ? view.live : [...view.live, view.me].sort();
  const P = view.owners.length;
  const target = (w: string) => targetOf(live.indexOf(w), live.length, P);
  const load = new Map<string, number>(live.map((w) => [w, 0]));
  for (const o of view.owners) if (o !== null && load.has(o)) load.set(o, load.get(o)! + 1);
  const mine = view.held.size;
  const myTarget = target(view.me);

  if (mine > myTarget) {
    // Hand over only what peers are short of: a partition nobody would take stays consumed.
    const short = live.reduce((n, w) => n + (w === view.me ? 0 : Math.max(0, target(w) - load.get(w)!)), 0);
    const n = Math.min(mine - myTarget, short);
    if (n === 0) return { kind: 'none' };
    return { kind: 'release', partitions: [...view.held].sort((a, b) => b - a).slice(0, n) };
  }
  const free = freeFrom(view, live);
  if (mine < myTarget && free.length > 0) return { kind: 'acquire', partitions: free.slice(0, myTarget - mine) };

  // Liveness fallback: a long-free partition goes to the least-loaded writer (ties: lowest id).
  const stuck = free.filter((p) => (view.freeChecks[p] ?? 0) >= STUCK_CHECKS);
  if (stuck.length === 0) return { kind: 'none' };
  const leastLoaded = [...live].sort((a, b) => load.get(a)! - load.get(b)! || (a < b ? -1 : 1))[0];
  return leastLoaded === view.me ? { kind: 'acquire', partitions: stuck.slice(0, 1) } : { kind: 'none' };
}

/**
 * Free partitions (not held by us, no lease), starting at an offset that
 * depends on our rank: writers joining together try different partitions
 * first instead of all racing for partition 0.
 */
function freeFrom(view: ShareView, live: readonly string[]): number[] {
  const P = view.owners.length;
  const start = Math.floor((live.indexOf(view.me) * P) / live.length);
  const out: number[] = [];
  for (let i = 0; i < P; i++) {
    const p = (start + i) % P;
    if (view.owners[p] === null && !view.held.has(p)) out.push(p);
  }
  return out;
}

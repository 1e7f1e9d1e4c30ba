/**
 * Which shard holds a sharded table's row: its shard-key value (an integer
 * column of the primary key, SLUICE_SHARD_KEYS) falls in one half-open range
 * of the map, `[previous upTo, upTo)`, the last range unbounded above.
 *
 * A range being moved (sharding/ in the writer) has a phase in the map:
 *   copying    the source still owns it and takes its writes; the writer logs
 *              them for the mover;
 *   switching  gateways send new writes of the range to the TARGET's
 *              partitions, where writers hold them until the move is done;
 *              writes queued on the source before the switch still commit
 *              there (and are logged) — the mover waits for them;
 *   (done)     the ranges list itself says the target owns it.
 */

/** One range: keys below `upTo` (and at or above the previous range's) live on `shard`. */
export interface RangeDoc {
  upTo?: number;
  shard: string;
}

/** A move in flight, as routing needs it (its progress lives in `sluice.shard_moves`). */
export interface MoveDoc {
  id: number;
  /** Keys in [lo, hi) move; null = unbounded on that side. */
  lo: number | null;
  hi: number | null;
  from: string;
  to: string;
  phase: 'copying' | 'switching';
}

/** Where a key's writes go and who applies them. */
export interface Placement {
  /** The shard whose database holds the row now. */
  owner: string;
  /** Where gateways enqueue a new write of the key (the target once a move switched). */
  route: string;
  /** The move covering the key, if any. */
  move?: MoveDoc;
}

/** Is `v` in [lo, hi)? */
export function inRange(v: number, lo: number | null, hi: number | null): boolean {
  return (lo === null || v >= lo) && (hi === null || v < hi);
}

/** The shard that owns `v` by `ranges`. */
export function ownerOf(ranges: readonly RangeDoc[], v: number): string {
  for (const r of ranges) if (r.upTo === undefined || v < r.upTo) return r.shard;
  return ranges[ranges.length - 1]!.shard;
}

/** Placement of key value `v` (see the module comment). */
export function placementOf(ranges: readonly RangeDoc[], moves: readonly MoveDoc[], v: number): Placement {
  const owner = ownerOf(ranges, v);
  const move = moves.find((m) => inRange(v, m.lo, m.hi));
  if (move === undefined) return { owner, route: owner };
  return { owner, route: move.phase === 'switching' ? move.to : owner, move };
}

/** The bounds [lo, hi) of the range holding `v`. */
export function rangeBounds(ranges: readonly RangeDoc[], v: number): { lo: number | null; hi: number | null; shard: string } {
  let lo: number | null = null;
  for (const r of ranges) {
    if (r.upTo === undefined || v < r.upTo) return { lo, hi: r.upTo ?? null, shard: r.shard };
    lo = r.upTo;
  }
  return { lo, hi: null, shard: ranges[ranges.length - 1]!.shard };
}

/** `ranges` with [lo, hi) given to `shard` (split at the bounds, neighbours of one shard merged). */
export function assign(ranges: readonly RangeDoc[], lo: number | null, hi: number | null, shard: string): RangeDoc[] {
  // Every boundary that exists before or after, then each piece's owner.
  const bounds = new Set<number>();
  for (const r of ranges) if (r.upTo !== undefined) bounds.add(r.upTo);
  if (lo !== null) bounds.add(lo);
  if (hi !== null) bounds.add(hi);
  const sorted = [...bounds].sort((a, b) => a - b);
  const pieces: RangeDoc[] = [];
  let prev: number | null = null;
  for (const upTo of [...sorted, undefined]) {
    const probe = prev === null ? (upTo === undefined ? 0 : upTo - 1) : prev;
    const owner = inRange(probe, lo, hi) ? shard : ownerOf(ranges, probe);
    const last = pieces[pieces.length - 1];
    if (last !== undefined && last.shard === owner) {
      if (upTo === undefined) delete last.upTo;
      else last.upTo = upTo;
    } else pieces.push(upTo === undefined ? { shard: owner } : { upTo, shard: owner });
    prev = upTo ?? null;
  }
  return pieces;
}

/** Problems of a ranges list (empty when valid). */
export function rangeProblems(ranges: readonly RangeDoc[], shards: ReadonlySet<string>): string[] {
  const out: string[] = [];
  if (ranges.length === 0) out.push('no ranges');
  ranges.forEach((r, i) => {
    if (!shards.has(r.shard)) out.push(`range ${i} names unknown shard ${r.shard}`);
    if ((i === ranges.length - 1) !== (r.upTo === undefined)) out.push(`range ${i}: only the last range is unbounded`);
    if (i > 0 && r.upTo !== undefined && r.upTo <= ranges[i - 1]!.upTo!) out.push('ranges must increase');
  });
  return out;
}

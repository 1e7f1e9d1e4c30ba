import { assign, placementOf, rangeProblems, type MoveDoc, type Placement, type RangeDoc } from './key-ranges.ts';
import { partitionIndexOf, partitionRef, parsePartitionName, SHARD_NAME, type PartitionRef } from './partitions.ts';

/**
 * The shard map: which shard holds a key and how each shard's keys spread
 * over partitions. Stored in Postgres with a version (sql/topology.ts) and
 * changed only by writing a new version; every process follows the latest.
 *
 * Each shard has a list of layout epochs. The last epoch is where gateways
 * route new writes. A partition count is changed online by opening a new
 * epoch with the new count: from then on gateways route to it, and writers
 * consume a shard's OLDEST open epoch only, so every write queued under the
 * old layout commits before any write of the new one (per-key order holds
 * although the key may land in another partition). An epoch is closed once
 * its queues are empty and no live gateway routes with a map older than the
 * one that replaced it (topology/epochs.ts); then the writers move on.
 *
 * Sharded tables (`keys`: table → shard-key column) place a row by its
 * shard-key value in `ranges` (key-ranges.ts); every other table lives on the
 * first shard. `moves` holds the routing phase of ranges being moved.
 */

/** One layout epoch of a shard. */
export interface EpochDoc {
  epoch: number;
  partitions: number;
  /** `open`: may hold jobs; `closed`: drained, never written again. */
  state: 'open' | 'closed';
  /** Map version that opened it. */
  since: number;
}

/** One shard's entry. */
export interface ShardDoc {
  epochs: EpochDoc[];
}

/** The stored document (JSON in `sluice.topology.map`). */
export interface MapDoc {
  /** Shards in order; the first holds Sluice's own metadata. */
  shards: Record<string, ShardDoc>;
  /** Sharded tables: API table name → its shard-key column (SLUICE_SHARD_KEYS, fixed at the first start). */
  keys?: Record<string, string>;
  /** Key ranges in order (absent: one range, the first shard). */
  ranges?: RangeDoc[];
  /** Moves in flight (routing phase only). */
  moves?: MoveDoc[];
}

/** Raised for a document that breaks the rules above (a bug, or a hand-edited row). */
export class ShardMapError extends Error {
  override readonly name = 'ShardMapError';
}

/** The map at one version (immutable). */
export class ShardMap {
  readonly shardNames: readonly string[];
  private readonly current = new Map<string, EpochDoc>();
  private readonly routableRefs = new Map<string, readonly PartitionRef[]>();

  constructor(
    readonly version: number,
    readonly doc: MapDoc,
  ) {
    this.shardNames = Object.keys(doc.shards);
    if (this.shardNames.length === 0) throw new ShardMapError('a shard map needs at least one shard');
    for (const name of this.shardNames) {
      if (!SHARD_NAME.test(name)) throw new ShardMapError(`bad shard name ${JSON.stringify(name)}`);
      const epochs = doc.shards[name]!.epochs;
      const last = epochs[epochs.length - 1];
      if (last === undefined || last.state !== 'open') throw new ShardMapError(`shard ${name}: the last epoch must be open`);
      epochs.forEach((e, i) => {
        if (i > 0 && e.epoch <= epochs[i - 1]!.epoch) throw new ShardMapError(`shard ${name}: epochs must increase`);
        if (!Number.isInteger(e.partitions) || e.partitions < 1 || e.partitions > 1024) throw new ShardMapError(`shard ${name}: bad partition count`);
      });
      this.current.set(name, last);
    }
    const problems = rangeProblems(this.ranges, new Set(this.shardNames));
    if (problems.length > 0) throw new ShardMapError(`bad ranges: ${problems.join('; ')}`);
  }

  /** The key ranges (one range on the first shard when the map has none). */
  get ranges(): readonly RangeDoc[] {
    return this.doc.ranges ?? [{ shard: this.metaShard }];
  }

  /** Moves in flight. */
  get moves(): readonly MoveDoc[] {
    return this.doc.moves ?? [];
  }

  /** Sharded tables and their shard-key columns. */
  get shardKeys(): Readonly<Record<string, string>> {
    return this.doc.keys ?? {};
  }

  /** Where a row of `table` with shard-key value `value` lives and is routed (unsharded tables: the first shard). */
  placement(table: string, value: number | null): Placement {
    if (value === null || !(table in this.shardKeys)) return { owner: this.metaShard, route: this.metaShard };
    return placementOf(this.ranges, this.moves, value);
  }

  /** The first shard: holds the map itself, and tables that are not sharded. */
  get metaShard(): string {
    return this.shardNames[0]!;
  }

  /** The shard a gateway routes a new write of `table` with shard-key value `value` to. */
  shardOf(table: string, value: number | null): string {
    return this.placement(table, value).route;
  }

  /** The epoch new writes of `shard` go to. */
  currentEpoch(shard: string): EpochDoc {
    const e = this.current.get(shard);
    if (e === undefined) throw new ShardMapError(`no shard ${shard}`);
    return e;
  }

  /** The partition a keyed row of `shard` is routed to now. */
  partitionOf(shard: string, table: string, key: readonly string[]): PartitionRef {
    const refs = this.routable(shard);
    return refs[partitionIndexOf(table, key, refs.length)]!;
  }

  /**
   * Every partition of the current epoch of `shard` (keyless writes rotate
   * over them). Built once per shard: the gateway asks on every write, and
   * a map never changes (a new version is a new ShardMap).
   */
  routable(shard: string): readonly PartitionRef[] {
    let refs = this.routableRefs.get(shard);
    if (refs === undefined) {
      refs = Object.freeze(refsOf(shard, this.currentEpoch(shard)));
      this.routableRefs.set(shard, refs);
    }
    return refs;
  }

  /** Open epochs of `shard`, oldest first. */
  openEpochs(shard: string): EpochDoc[] {
    return this.shardDoc(shard).epochs.filter((e) => e.state === 'open');
  }

  /** Partitions writers consume now: for each shard, those of its oldest open epoch. */
  consumable(): PartitionRef[] {
    return this.shardNames.flatMap((s) => refsOf(s, this.openEpochs(s)[0]!));
  }

  /** Every partition that may hold jobs: all open epochs of all shards. */
  live(): PartitionRef[] {
    return this.shardNames.flatMap((s) => this.openEpochs(s).flatMap((e) => refsOf(s, e)));
  }

  /** The partition named `name`, if the map has (or had) it. */
  partition(name: string): PartitionRef | null {
    const ref = parsePartitionName(name);
    if (ref === null || !(ref.shard in this.doc.shards)) return null;
    const e = this.shardDoc(ref.shard).epochs.find((x) => x.epoch === ref.epoch);
    return e !== undefined && ref.index < e.partitions ? ref : null;
  }

  /** A document with a new open epoch of `partitions` for `shard` (opened by version `version`). */
  withPartitions(shard: string, partitions: number, version: number): MapDoc {
    const doc = clone(this.doc);
    const epochs = doc.shards[shard]!.epochs;
    epochs.push({ epoch: epochs[epochs.length - 1]!.epoch + 1, partitions, state: 'open', since: version });
    return doc;
  }

  /** A document with a move added (phase `copying`). */
  withMove(move: MoveDoc): MapDoc {
    const doc = clone(this.doc);
    doc.moves = [...(doc.moves ?? []), move];
    return doc;
  }

  /** A document with move `id` in `phase`. */
  withMovePhase(id: number, phase: MoveDoc['phase']): MapDoc {
    const doc = clone(this.doc);
    doc.moves = (doc.moves ?? []).map((m) => (m.id === id ? { ...m, phase } : m));
    return doc;
  }

  /** A document without move `id`; `done`: its keys now belong to its target. */
  withMoveEnded(id: number, done: boolean): MapDoc {
    const doc = clone(this.doc);
    const m = (doc.moves ?? []).find((x) => x.id === id);
    doc.moves = (doc.moves ?? []).filter((x) => x.id !== id);
    if (m !== undefined && done) doc.ranges = assign(this.ranges, m.lo, m.hi, m.to);
    return doc;
  }

  /** A document with `epoch` of `shard` closed (it must be open and not the current one). */
  withClosed(shard: string, epoch: number): MapDoc {
    const doc = clone(this.doc);
    const epochs = doc.shards[shard]!.epochs;
    const e = epochs.find((x) => x.epoch === epoch);
    if (e === undefined || e === epochs[epochs.length - 1]) throw new ShardMapError(`shard ${shard}: epoch ${epoch} cannot be closed`);
    e.state = 'closed';
    return doc;
  }

  private shardDoc(shard: string): ShardDoc {
    const d = this.doc.shards[shard];
    if (d === undefined) throw new ShardMapError(`no shard ${shard}`);
    return d;
  }
}

/** The first document of a deployment: one epoch per shard with `partitions` partitions; key ranges and shard keys when sharded. */
export function initialDoc(shards: readonly string[], partitions: number, sharding: { keys?: Record<string, string>; ranges?: RangeDoc[] } = {}): MapDoc {
  const doc: MapDoc = { shards: Object.fromEntries(shards.map((s) => [s, { epochs: [{ epoch: 1, partitions, state: 'open' as const, since: 1 }] }])) };
  if (sharding.keys !== undefined && Object.keys(sharding.keys).length > 0) doc.keys = sharding.keys;
  if (sharding.ranges !== undefined) doc.ranges = sharding.ranges;
  return doc;
}

function refsOf(shard: string, e: EpochDoc): PartitionRef[] {
  return Array.from({ length: e.partitions }, (_, i) => partitionRef(shard, e.epoch, i));
}

function clone(doc: MapDoc): MapDoc {
  return JSON.parse(JSON.stringify(doc)) as MapDoc;
}

import type { MapChanges } from './changes.ts';
import { createPool, type Pool } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { insertMap, latestMap, latestMapVersion } from '../sql/topology.ts';
import type { RangeDoc } from './key-ranges.ts';
import { initialDoc, ShardMap, type MapDoc } from './shard-map.ts';

/**
 * Where Sluice's data lives: the shards (one Postgres primary each, plus its
 * read replicas) and the versioned shard map that says which shard and
 * partition a key belongs to. Built once in each process's main.ts; it owns
 * the shards' primary pools and closes them. Components get the narrow piece
 * they use: a shard's pool, the current map, a change callback.
 *
 * The map lives on the first shard (`sluice.topology`). Every process follows
 * the latest version: it polls the version every `pollMs` and, on a change,
 * loads the new map and tells its listeners (in order, awaited), so e.g. a
 * gateway flushes what it routed with the old map before it says it moved on.
 */

/** One shard as configured. */
export interface ShardSpec {
  name: string;
  /** The primary (or the moving address in front of it). */
  url: string;
  /** Streaming replicas for reads. */
  replicas: readonly string[];
}

/** What a topology needs. */
export interface TopologyOptions {
  shards: readonly ShardSpec[];
  /** SLUICE_PARTITIONS: the partitions per shard the operator asks for (a change opens a new epoch). */
  partitions: number;
  /** SLUICE_SHARD_KEYS and SLUICE_SHARD_MAP: stored in the first map; later starts must agree on the keys. */
  sharding?: { keys?: Record<string, string>; ranges?: RangeDoc[] };
  pool: { max: number; connectTimeoutMs: number; statementTimeoutMs: number; applicationName: string };
  /** How often the stored map's version is checked. */
  pollMs: number;
  log: Logger;
}

/** Called with the new map and the one it replaces. */
export type MapListener = (next: ShardMap, prev: ShardMap) => void | Promise<void>;

/** Compare-and-set attempts of a map change before giving up (each loser re-reads). */
const PROPOSE_ATTEMPTS = 20;

/** The shards and the shard map (see the module comment). */
export class Topology {
  private readonly pools = new Map<string, Pool>();
  private readonly listeners: MapListener[] = [];
  private current: ShardMap | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private changes: MapChanges | undefined;
  /** Adoptions run one after another, so listeners see versions in order. */
  private adopting: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(private readonly o: TopologyOptions) {
    if (o.shards.length === 0) throw new Error('a topology needs at least one shard');
    for (const s of o.shards) {
      this.pools.set(s.name, createPool({ url: s.url, ...o.pool, applicationName: `${o.pool.applicationName}-${s.name}`, log: o.log }));
    }
  }

  /** The shards as configured, first = the one holding the map. */
  get shards(): readonly ShardSpec[] {
    return this.o.shards;
  }

  /** The primary pool of `shard`. */
  db(shard: string): Pool {
    const p = this.pools.get(shard);
    if (p === undefined) throw new Error(`no shard named ${shard}`);
    return p;
  }

  /** The first shard's pool: Sluice's metadata (the map). */
  get metaDb(): Pool {
    return this.db(this.o.shards[0]!.name);
  }

  /** The map this process routes with now. */
  get map(): ShardMap {
    if (this.current === undefined) throw new Error('topology not started');
    return this.current;
  }

  /** Be told of every new map (after start). */
  onChange(fn: MapListener): void {
    this.listeners.push(fn);
  }

  /**
   * Load the stored map (storing the first one if there is none: SLUICE_PARTITIONS
   * partitions per shard, after `beforeFirstMap` approves), open a new epoch
   * for any shard whose partition count differs from SLUICE_PARTITIONS
   * (`reconcile`), then follow the store every `pollMs`.
   */
  async start(o: { reconcile?: boolean; beforeFirstMap?: () => Promise<void> } = {}): Promise<ShardMap> {
    let stored = await latestMap(this.metaDb);
    if (stored === null) {
      await o.beforeFirstMap?.();
      const doc = initialDoc(this.o.shards.map((s) => s.name), this.o.partitions, this.o.sharding);
      if (await insertMap(this.metaDb, 1, doc, 'first start')) this.o.log.info({ partitions: this.o.partitions, shards: Object.keys(doc.shards) }, 'shard map created');
      stored = (await latestMap(this.metaDb))!;
    }
    this.current = new ShardMap(stored.version, stored.doc);
    this.checkShardKeys();
    if (o.reconcile !== false) {
      await this.reconcileShards();
      await this.reconcilePartitions();
    }
    this.timer = setInterval(() => void this.refresh(), this.o.pollMs);
    this.timer.unref();
    return this.current;
  }

  /** Check the store now and adopt a newer map (shared with a check in flight). */
  refresh(): Promise<void> {
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /**
   * Change the map: `change` derives the next document from the latest map
   * (null: nothing to change), stored as the next version if no other process
   * stored one first; else re-read and try again. Resolves with the map in
   * force afterwards (adopted here, listeners told).
   */
  async propose(change: (latest: ShardMap) => MapDoc | null, reason: string): Promise<ShardMap> {
    for (let i = 0; i < PROPOSE_ATTEMPTS; i++) {
      await this.refresh();
      const latest = this.map;
      const doc = change(latest);
      if (doc === null) return latest;
      const next = new ShardMap(latest.version + 1, doc); // validates before storing
      if (await insertMap(this.metaDb, next.version, doc, reason)) {
        this.o.log.info({ version: next.version, reason }, 'shard map changed');
        await this.changes?.publish(next.version);
        await this.adopt(next);
        return next;
      }
    }
    throw new Error(`shard map change "${reason}" lost ${PROPOSE_ATTEMPTS} races in a row`);
  }

  /**
   * Publish the maps this process stores and adopt the ones others publish
   * at once (changes.ts); polling goes on as the backstop.
   */
  async followChanges(changes: MapChanges): Promise<void> {
    if (this.changes !== undefined) return; // one follower per topology (a test may share one between apps)
    this.changes = changes;
    await changes.follow((version) => {
      if (version > this.map.version) void this.refresh();
    });
  }

  /** Stop following the store and close the pools. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      await this.changes?.stop();
      await this.polling?.catch(() => {});
      await Promise.allSettled([...this.pools.values()].map((p) => p.end()));
    })();
    return this.closing;
  }

  /** The stored shard keys are the map's: a process configured with others would route differently. */
  private checkShardKeys(): void {
    const want = JSON.stringify(sortKeys(this.o.sharding?.keys ?? {}));
    const have = JSON.stringify(sortKeys(this.map.shardKeys));
    if (want !== have) throw new Error(`SLUICE_SHARD_KEYS (${want}) differs from the stored shard map's (${have}): every process must run with the same shard keys; they cannot change once stored`);
  }

  /** Shards configured but not in the map are added (empty: no range yet); shards in the map must still be configured. */
  private async reconcileShards(): Promise<void> {
    const configured = this.o.shards.map((s) => s.name);
    const missing = this.map.shardNames.filter((s) => !configured.includes(s));
    if (missing.length > 0) throw new Error(`SLUICE_SHARDS lacks ${missing.join(', ')}, which the stored shard map holds (their data would be unreachable)`);
    const added = configured.filter((s) => !this.map.shardNames.includes(s));
    if (added.length === 0) return;
    await this.propose((m) => {
      const fresh = added.filter((s) => !m.shardNames.includes(s));
      if (fresh.length === 0) return null;
      const doc = JSON.parse(JSON.stringify(m.doc)) as MapDoc;
      for (const s of fresh) doc.shards[s] = { epochs: [{ epoch: 1, partitions: this.o.partitions, state: 'open', since: m.version + 1 }] };
      return doc;
    }, `shards added: ${added.join(', ')}`);
  }

  /** Open a new epoch where the stored partition count is not SLUICE_PARTITIONS (see shard-map.ts). */
  private async reconcilePartitions(): Promise<void> {
    const want = this.o.partitions;
    for (const s of this.map.shardNames) {
      const have = this.map.currentEpoch(s).partitions;
      if (have === want) continue;
      this.o.log.warn({ shard: s, from: have, to: want }, 'SLUICE_PARTITIONS differs from the stored layout: opening a new epoch (writes queued under the old layout commit first); every process must run with the same SLUICE_PARTITIONS');
      await this.propose((m) => (m.currentEpoch(s).partitions === want ? null : m.withPartitions(s, want, m.version + 1)), `partitions of ${s}: ${have} → ${want}`);
    }
  }

  private async poll(): Promise<void> {
    if (this.current === undefined || this.closing) return;
    try {
      if ((await latestMapVersion(this.metaDb)) <= this.current.version) return;
      const stored = await latestMap(this.metaDb);
      if (stored !== null && stored.version > this.current.version) await this.adopt(new ShardMap(stored.version, stored.doc));
    } catch (err) {
      this.o.log.warn({ err: { message: (err as Error).message } }, 'shard map check failed; keeping the current map');
    }
  }

  private adopt(next: ShardMap): Promise<void> {
    this.adopting = this.adopting.then(async () => {
      const prev = this.current!;
      if (next.version <= prev.version) return;
      this.current = next;
      for (const fn of this.listeners) {
        try {
          await fn(next, prev);
        } catch (err) {
          this.o.log.error({ err, version: next.version }, 'shard map listener failed');
        }
      }
    });
    return this.adopting;
  }
}

function sortKeys(o: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

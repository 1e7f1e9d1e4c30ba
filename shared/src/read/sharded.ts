import type { ColumnInfo } from '../catalog/types.ts';
import { ShardRouter as Router } from '../topology/router.ts';
import type { ShardMap } from '../topology/shard-map.ts';
import type { RowRead } from './key-reader.ts';
import type { ReadService } from './service.ts';
import type { ReadSettings } from './settings.ts';
import type { ReadTable } from './tables.ts';
import { formatToken, tokenFor, type ShardTokens } from './tokens.ts';

/**
 * Reads across shards: one read service per shard (its cache, replicas and
 * primary), and the choice of shard by the shard map. A key of a sharded
 * table names its shard (the shard key is part of the primary key), as does
 * a list filtered by the shard key; every other list asks every shard at
 * once and merges the pages in key order. Rows are read where they live now
 * (the owner: during a move, the source until the target has the range).
 */

/** A row read, with the token of the shard it came from. */
export type ShardRowRead = RowRead & { token: string };

/** One merged list page. */
export interface ShardListPage {
  rows: string[];
  lastKey: string[] | null;
  source: 'replica' | 'primary';
}

const RANK = { cache: 0, replica: 1, primary: 2 } as const;

/** The farthest source of several reads: primary > replica > cache. */
function worst(sources: readonly RowRead['source'][]): RowRead['source'] {
  let out: RowRead['source'] = 'cache';
  for (const s of sources) if (RANK[s] > RANK[out]) out = s;
  return out;
}

/** The shards and the map in force (a started Topology). */
export interface ShardLayout {
  readonly shards: readonly { readonly name: string }[];
  readonly map: Pick<ShardMap, 'placement' | 'shardNames'>;
}

/** The read path over every shard (see the module comment). */
export class ShardedReads {
  /** The read path of a deployment with one shard (tests; what `createApp` builds when unsharded is the same). */
  static single(service: ReadService, shard = 'main'): ShardedReads {
    const layout: ShardLayout = { shards: [{ name: shard }], map: { shardNames: [shard], placement: () => ({ owner: shard, route: shard }) } };
    return new ShardedReads(layout, new Router(new Map(), {}), new Map([[shard, service]]));
  }

  constructor(
    private readonly topology: ShardLayout,
    private readonly router: Router,
    private readonly services: ReadonlyMap<string, ReadService>,
  ) {
    this.meta = topology.shards[0]!.name;
  }

  /** The first shard: unsharded tables, and a bare token's shard. */
  private readonly meta: string;

  private tokenOf(tokens: ShardTokens | undefined, shard: string) {
    return tokenFor(tokens, shard, this.meta);
  }

  /** Readable tables by API name. */
  get tables(): ReadonlyMap<string, ReadTable> {
    return this.services.get(this.meta)!.tables;
  }

  get settings(): ReadSettings {
    return this.services.get(this.meta)!.settings;
  }

  /** The shard holding `key` of `table`; null when the key does not say (the shard key is not part of it). */
  shardOf(table: string, key: readonly string[]): string | null {
    const v = this.router.valueOfKey(table, key);
    if (v === null) return this.meta;
    return v === undefined ? null : this.topology.map.placement(table, v).owner;
  }

  /**
   * Whether row text `j` of `table`, read on `shard`, is the row's live copy:
   * a fan-out also meets copies a move made and has not yet cleaned up.
   */
  private owns(table: string, shard: string, j: string): boolean {
    if (!this.router.sharded(table)) return shard === this.meta;
    const v = (JSON.parse(j) as Record<string, unknown>)[this.router.column(table)!];
    return this.topology.map.placement(table, Number(v)).owner === shard;
  }

  private service(shard: string): ReadService {
    const s = this.services.get(shard);
    if (s === undefined) throw new Error(`no read service for shard ${shard}`);
    return s;
  }

  /** One row by key; with a token for its shard, never older than it. A key without the shard key asks every shard. */
  async getRow(t: ReadTable, key: readonly string[], tokens?: ShardTokens): Promise<ShardRowRead> {
    const shard = this.shardOf(t.name, key);
    if (shard !== null) {
      const r = await this.service(shard).getRow(t, key, this.tokenOf(tokens, shard));
      return { ...r, token: formatToken(shard, r.lsn, this.topology.shards.length) };
    }
    const shards = this.topology.map.shardNames;
    const reads = await Promise.all(shards.map((s) => this.service(s).getRow(t, key, this.tokenOf(tokens, s))));
    const i = reads.findIndex((r, n) => r.row !== null && this.owns(t.name, shards[n]!, r.row));
    const r = reads[i < 0 ? 0 : i]!;
    // Every shard's position: a client reading again with this token reads at least this much everywhere.
    const token = reads.map((x, n) => formatToken(shards[n]!, x.lsn, shards.length)).join(',');
    return i < 0 ? { ...r, row: null, source: worst(reads.map((x) => x.source)), token } : { ...r, token };
  }

  /** Many rows by key, in the order asked: each shard asked once for its keys (keys without the shard key: every shard). */
  async getRows(t: ReadTable, keys: readonly (readonly string[])[], tokens?: ShardTokens): Promise<{ rows: (string | null)[]; source: RowRead['source'] }> {
    const byShard = new Map<string, number[]>();
    const everywhere: number[] = [];
    keys.forEach((k, i) => {
      const s = this.shardOf(t.name, k);
      if (s === null) return everywhere.push(i);
      let list = byShard.get(s);
      if (list === undefined) byShard.set(s, (list = []));
      list.push(i);
    });
    if (everywhere.length > 0) for (const s of this.topology.map.shardNames) byShard.set(s, [...(byShard.get(s) ?? []), ...everywhere]);
    const rows = new Array<string | null>(keys.length).fill(null);
    const sources: RowRead['source'][] = [];
    await Promise.all(
      [...byShard].map(async ([shard, idx]) => {
        const r = await this.service(shard).getRows(t, idx.map((i) => keys[i]!), this.tokenOf(tokens, shard));
        idx.forEach((i, j) => {
          const row = r.rows[j] ?? null;
          if (row !== null && (everywhere.length === 0 || this.owns(t.name, shard, row))) rows[i] = row;
        });
        sources.push(r.source);
      }),
    );
    return { rows, source: worst(sources) };
  }

  /** One keyset page: from the one shard a shard-key filter names, else from all, merged in key order. */
  async list(t: ReadTable, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, tokens?: ShardTokens, desc = false): Promise<ShardListPage> {
    const shardCol = this.router.column(t.name);
    const shards = !this.router.sharded(t.name)
      ? [this.meta]
      : filter !== null && filter.col.name === shardCol
        ? [this.topology.map.placement(t.name, Number(filter.value)).owner]
        : this.topology.map.shardNames;
    if (shards.length === 1) return this.service(shards[0]!).list(t, filter, after, limit, this.tokenOf(tokens, shards[0]!), desc);
    const pages = await Promise.all(
      shards.map(async (s) => {
        const p = await this.service(s).listWithKeys(t, filter, after, limit, this.tokenOf(tokens, s), desc);
        // A page of limit + 1 rows still says "more" after copies are dropped: the merge takes at most limit.
        return { ...p, rows: p.rows.filter((r) => this.owns(t.name, s, r.j)) };
      }),
    );
    return mergePages(t, pages, limit, desc);
  }

  /** Replica states of every shard. */
  status(): { shard: string; name: string; state: string; lagMs: number; reason: string }[] {
    return [...this.services].flatMap(([shard, s]) => s.status().map((r) => ({ shard, ...r })));
  }

  start(): Promise<void> {
    return Promise.all([...this.services.values()].map((s) => s.start())).then(() => {});
  }

  stop(): Promise<void> {
    return Promise.allSettled([...this.services.values()].map((s) => s.stop())).then(() => {});
  }

  flushPopularity(): Promise<void> {
    return Promise.all([...this.services.values()].map((s) => s.flushPopularity())).then(() => {});
  }
}

/** Compare two keys of `t` in primary-key order: integers as numbers, other values as text. */
function compareKeys(t: ReadTable, a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const kind = t.info.primaryKey[i]!.kind;
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (kind === 'int2' || kind === 'int4' || kind === 'int8') return BigInt(x) < BigInt(y) ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The first `limit` rows of several shards' pages, in key order (`desc`: descending; each page is in that order and has up to limit + 1 rows). */
function mergePages(t: ReadTable, pages: { rows: { j: string; key: string[] }[]; source: 'replica' | 'primary' }[], limit: number, desc: boolean): ShardListPage {
  const all = pages.flatMap((p) => p.rows).sort((a, b) => (desc ? -1 : 1) * compareKeys(t, a.key, b.key));
  const more = all.length > limit;
  const rows = all.slice(0, limit);
  return { rows: rows.map((r) => r.j), lastKey: more ? rows[rows.length - 1]!.key : null, source: pages.some((p) => p.source === 'primary') ? 'primary' : 'replica' };
}

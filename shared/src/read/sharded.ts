import type { ColumnInfo } from '../catalog/types.ts';
import type { ShardRouter } from '../topology/router.ts';
import type { Topology } from '../topology/topology.ts';
import type { RowRead } from './key-reader.ts';
import type { ReadService } from './service.ts';
import type { ReadSettings } from './settings.ts';
import type { ReadTable } from './tables.ts';
import { formatToken, type ShardTokens } from './tokens.ts';

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

/** The read path over every shard (see the module comment). */
export class ShardedReads {
  constructor(
    private readonly topology: Topology,
    private readonly router: ShardRouter,
    private readonly services: ReadonlyMap<string, ReadService>,
  ) {}

  private get meta(): string {
    return this.topology.shards[0]!.name;
  }

  /** Readable tables by API name. */
  get tables(): ReadonlyMap<string, ReadTable> {
    return this.services.get(this.meta)!.tables;
  }

  get settings(): ReadSettings {
    return this.services.get(this.meta)!.settings;
  }

  /** The shard holding `key` of `table`. */
  shardOf(table: string, key: readonly string[]): string {
    return this.topology.map.placement(table, this.router.valueOf({ t: table, op: 'delete', key: [...key] }) ?? null).owner;
  }

  private service(shard: string): ReadService {
    const s = this.services.get(shard);
    if (s === undefined) throw new Error(`no read service for shard ${shard}`);
    return s;
  }

  /** One row by key; with a token for its shard, never older than it. */
  async getRow(t: ReadTable, key: readonly string[], tokens: ShardTokens): Promise<ShardRowRead> {
    const shard = this.shardOf(t.name, key);
    const r = await this.service(shard).getRow(t, key, tokens.get(shard));
    return { ...r, token: formatToken(shard, r.lsn, this.meta) };
  }

  /** Many rows by key, in the order asked: each shard asked once for its keys. */
  async getRows(t: ReadTable, keys: readonly (readonly string[])[], tokens: ShardTokens): Promise<{ rows: (string | null)[]; source: RowRead['source'] }> {
    const byShard = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const s = this.shardOf(t.name, k);
      let list = byShard.get(s);
      if (list === undefined) byShard.set(s, (list = []));
      list.push(i);
    });
    const rows = new Array<string | null>(keys.length).fill(null);
    let source: RowRead['source'] = 'cache';
    await Promise.all(
      [...byShard].map(async ([shard, idx]) => {
        const r = await this.service(shard).getRows(t, idx.map((i) => keys[i]!), tokens.get(shard));
        idx.forEach((i, j) => (rows[i] = r.rows[j] ?? null));
        if (RANK[r.source] > RANK[source]) source = r.source;
      }),
    );
    return { rows, source };
  }

  /** One keyset page: from the one shard a shard-key filter names, else from all, merged in key order. */
  async list(t: ReadTable, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, tokens: ShardTokens): Promise<ShardListPage> {
    const shardCol = this.router.column(t.name);
    const shards = !this.router.sharded(t.name)
      ? [this.meta]
      : filter !== null && filter.col.name === shardCol
        ? [this.topology.map.placement(t.name, Number(filter.value)).owner]
        : this.topology.map.shardNames;
    if (shards.length === 1) return this.service(shards[0]!).list(t, filter, after, limit, tokens.get(shards[0]!));
    const pages = await Promise.all(shards.map((s) => this.service(s).listWithKeys(t, filter, after, limit, tokens.get(s))));
    return mergePages(t, pages, limit);
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

/** The first `limit` rows of several shards' pages, in key order (each page is in key order and has up to limit + 1 rows). */
function mergePages(t: ReadTable, pages: { rows: { j: string; key: string[] }[]; source: 'replica' | 'primary' }[], limit: number): ShardListPage {
  const all = pages.flatMap((p) => p.rows).sort((a, b) => compareKeys(t, a.key, b.key));
  const more = all.length > limit;
  const rows = all.slice(0, limit);
  return { rows: rows.map((r) => r.j), lastKey: more ? rows[rows.length - 1]!.key : null, source: pages.some((p) => p.source === 'primary') ? 'primary' : 'replica' };
}

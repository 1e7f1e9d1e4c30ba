import type { Queryable } from '../db/pool.ts';

/**
 * The gateway's view of each read model's state, worst over the shards
 * (`building` anywhere, or no row yet on a shard, makes the view `building`).
 * Read without a round trip: the snapshot is refreshed in the background when
 * older than `maxAgeMs` (one query per shard per refresh, at most one refresh
 * in flight), so a view read costs what a table read costs. Only the very
 * first read waits for the first load. A refresh that fails keeps the last
 * snapshot (the read path reports an unreachable database itself).
 *
 * `ready` and `rebuilding` are readable (a rebuild keeps the live table in
 * service until its swap); `building` is not: its table is being filled.
 */
export class ViewStates {
  private states = new Map<string, string>();
  private loadedAt = 0;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly dbs: () => readonly Queryable[],
    private readonly names: readonly string[],
    private readonly maxAgeMs = 1000,
  ) {}

  /** The state of `name` (`building` when unknown on some shard); undefined when no snapshot could be loaded yet. */
  async stateOf(name: string): Promise<string | undefined> {
    if (this.loadedAt === 0) await this.refresh();
    else if (Date.now() - this.loadedAt > this.maxAgeMs) void this.refresh();
    return this.loadedAt === 0 ? undefined : (this.states.get(name) ?? 'building');
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.load()
      .catch(() => {})
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async load(): Promise<void> {
    const worst = new Map<string, string>(this.names.map((n) => [n, 'ready']));
    const rank = (s: string) => (s === 'ready' ? 0 : s === 'rebuilding' ? 1 : 2);
    for (const db of this.dbs()) {
      const { rows } = await db.query<{ name: string; state: string }>('SELECT name, state FROM sluice.views');
      const here = new Map(rows.map((r) => [r.name, r.state]));
      for (const n of this.names) {
        const s = here.get(n) ?? 'building';
        if (rank(s) > rank(worst.get(n)!)) worst.set(n, s);
      }
    }
    this.states = worst;
    this.loadedAt = Date.now();
  }
}

/** Whether reads of a view in state `s` are answered. */
export function readable(state: string): boolean {
  return state === 'ready' || state === 'rebuilding';
}

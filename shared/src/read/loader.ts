import pTimeout from 'p-timeout';
import type { ColumnInfo } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import { sqlstateOf, type Queryable } from '../db/pool.ts';
import type { Logger } from '../log/index.ts';
import { lsnKeyOf, type LsnKey } from './cache/lsn.ts';
import type { ReplicaSet } from './replicas/set.ts';
import type { RowStatements } from './rows.ts';

/**
 * Rows from the database, from a healthy replica when one is new enough, else
 * from the primary, each result stamped with an LSN that is SAFE: every
 * commit whose consistency token is ≤ the stamp is in the data.
 *
 * - Replica: its replay position as last observed BEFORE the query was sent
 *   (replica.ts). Replay only moves forward, so the query's snapshot holds at
 *   least that much; a commit whose token T ≤ stamp has its commit record
 *   replayed (T is read after COMMIT, so T ≥ the record's end).
 * - Primary: `pg_current_wal_insert_lsn()` read in a statement BEFORE the
 *   data query. Read before the snapshot, because reading it in the same
 *   statement (after the snapshot) could count a commit the snapshot missed.
 *   Exact, because every consistency token is a WAL position reached only
 *   after its commit became visible: the writer's token is the end of a WAL
 *   message it emits after COMMIT returned (writer/src/flush/flush.ts), and
 *   a status lookup's token is read after it saw the commit. So a stamp
 *   S ≥ T was read after T's commit was visible, and the snapshot taken
 *   after S holds it. An exact primary stamp costs one round trip: the
 *   primary is the fallback path.
 */

/** Where rows came from. */
export type DbSource = 'replica' | 'primary';

/** Rows loaded by key, aligned with the keys asked for (null = no such row). */
export interface Loaded {
  rows: (string | null)[];
  lsn: LsnKey;
  source: DbSource;
}

/** One list page: rows and their keys (as text) in key order. */
export interface ListRows {
  rows: { j: string; key: string[] }[];
  lsn: LsnKey;
  source: DbSource;
}

/** Wraps every database read (metrics, tests that count or pause reads). */
export type QueryWrapper = <T>(source: DbSource, table: string, run: () => Promise<T>) => Promise<T>;

/** What a loader needs. */
export interface RowLoaderOptions {
  primary: Queryable;
  replicas: ReplicaSet;
  /** SLUICE_RYW_WAIT_MS */
  rywWaitMs: number;
  /**
   * A replica read not answered within this is abandoned for the primary and
   * the replica marked down: a frozen server never trips its own
   * statement_timeout. Default 1000.
   */
  replicaTimeoutMs?: number;
  log: Logger;
  wrap?: QueryWrapper;
}

/**
 * How long a replica read may take before the primary is asked instead:
 * generous next to a key lookup, short next to a client's patience.
 */
export function replicaReadTimeoutMs(config: Readonly<Pick<Config, 'SLUICE_REPLICA_CHECK_MS'>>): number {
  return Math.max(2000, 4 * config.SLUICE_REPLICA_CHECK_MS);
}

const direct: QueryWrapper = (_source, _table, run) => run();

/** Not the query's fault: the replica is unreachable or going away (SQLSTATE class 08, 57P01–57P03). */
function connectionLost(err: unknown): boolean {
  const code = sqlstateOf(err);
  return code === undefined || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}


/** Reads rows by key and pages of rows (see the module comment). */
export class RowLoader {
  private readonly wrap: QueryWrapper;

  constructor(private readonly o: RowLoaderOptions) {
    this.wrap = o.wrap ?? direct;
  }

  /** Rows of `keys` (each in key-column order, Postgres text), at least as new as `minLsn`. */
  async load(st: RowStatements, keys: readonly (readonly string[])[], minLsn?: LsnKey): Promise<Loaded> {
    const table = st.table.name;
    const r = await this.run(table, minLsn, async (db) => {
      if (keys.length === 1) {
        const { rows } = await db.query<{ j: string }>({ name: st.byKey.name, text: st.byKey.text, values: [...keys[0]!] });
        return [rows[0]?.j ?? null];
      }
      const columns = st.table.primaryKey.map((_, i) => keys.map((k) => k[i]!));
      const { rows } = await db.query<{ i: number; j: string }>({ name: st.byKeys.name, text: st.byKeys.text, values: columns });
      const out: (string | null)[] = new Array<string | null>(keys.length).fill(null);
      for (const row of rows) out[row.i - 1] = row.j;
      return out;
    });
    return { rows: r.value, lsn: r.lsn, source: r.source };
  }

  /** One keyset page: rows with `filter = value` (or all rows), after the key `after` in key order (`desc`: before it, descending), at most `limit`. */
  async list(st: RowStatements, filter: { col: ColumnInfo; value: string } | null, after: readonly string[] | null, limit: number, minLsn?: LsnKey, desc = false): Promise<ListRows> {
    const s = st.list(filter?.col ?? null, after !== null, desc);
    const values: unknown[] = [];
    if (filter !== null) values.push(filter.value);
    if (after !== null) values.push(...after);
    values.push(limit);
    const n = st.table.primaryKey.length;
    const r = await this.run(st.table.name, minLsn, async (db) => {
      const { rows } = await db.query<Record<string, string>>({ name: s.name, text: s.text, values });
      return rows.map((row) => ({ j: row.j!, key: Array.from({ length: n }, (_, i) => row[`k${i}`]!) }));
    });
    return { rows: r.value, lsn: r.lsn, source: r.source };
  }

  private async run<T>(table: string, minLsn: LsnKey | undefined, fn: (db: Queryable) => Promise<T>): Promise<{ value: T; lsn: LsnKey; source: DbSource }> {
    const picked = await this.o.replicas.pick(minLsn, this.o.rywWaitMs);
    if (picked !== null) {
      try {
        const ms = this.o.replicaTimeoutMs ?? 1000;
        const value = await this.wrap('replica', table, () => pTimeout(fn(picked.replica.pool), { milliseconds: ms, message: `replica ${picked.replica.name} did not answer within ${ms} ms` }));
        return { value, lsn: picked.stamp, source: 'replica' };
      } catch (err) {
        // 40001 here is a recovery conflict (the standby cancelled us): the primary answers instead.
        this.o.log.warn({ err: { message: (err as Error).message, code: sqlstateOf(err) }, replica: picked.replica.name }, 'replica read failed; reading the primary');
        if (connectionLost(err)) this.o.replicas.monitor.markDown(picked.replica, (err as Error).message);
      }
    }
    const primary = this.o.primary;
    return this.wrap('primary', table, async () => {
      const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      const value = await fn(primary);
      return { value, lsn: lsnKeyOf(rows[0]!.lsn), source: 'primary' as const };
    });
  }
}

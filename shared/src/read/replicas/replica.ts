import type { Pool } from '../../db/pool.ts';
import { lsnKey, type LsnKey } from '../cache/lsn.ts';

/**
 * One read replica: its pool and what the monitor last saw of it.
 *
 * States (the monitor moves them, see monitor.ts):
 *   unknown  never checked yet: not used for reads
 *   healthy  reachable, a standby, lag ≤ SLUICE_MAX_REPLICA_LAG_MS: serves reads
 *   lagging  reachable but lag > the limit: ejected until lag ≤ half the limit
 *   down     a check or a read failed (unreachable, timeout, promoted): ejected
 *            until a check succeeds
 */
export type ReplicaState = 'unknown' | 'healthy' | 'lagging' | 'down';

/** Every state, for metrics. */
export const REPLICA_STATES: readonly ReplicaState[] = ['unknown', 'healthy', 'lagging', 'down'];

/** `host:port/db` of a Postgres URL: a metric label and log field without credentials. */
export function replicaName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'replica';
  }
}

/** A replica and its last observed replay position. */
export class Replica {
  state: ReplicaState = 'unknown';
  /**
   * Last observed `pg_last_wal_replay_lsn()`. Read before a query is sent,
   * it is a lower bound of what that query sees (replay only moves forward
   * while the server runs): the safe LSN to stamp a cache fill with.
   */
  replayLsn: LsnKey | undefined;
  /** Estimated lag behind the primary, ms (see monitor.ts), and bytes. */
  lagMs = 0;
  lagBytes = 0;
  /** Why it is down or lagging, for logs and /readyz. */
  reason = '';
  private refreshing: Promise<LsnKey | undefined> | undefined;

  constructor(
    readonly name: string,
    readonly pool: Pool,
  ) {}

  /** Usable for reads now. */
  get usable(): boolean {
    return this.state === 'healthy';
  }

  /**
   * Read the replay position now (a read-your-writes read whose token is
   * newer than the monitor's last look). Concurrent callers share one query.
   */
  refreshReplay(): Promise<LsnKey | undefined> {
    this.refreshing ??= this.pool
      .query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')
      .then((r) => {
        const k = r.rows[0]?.lsn ? lsnKey(r.rows[0].lsn) : null;
        if (k === null) return undefined;
        // The monitor may have seen a later position meanwhile; keep the later.
        if (this.replayLsn === undefined || k > this.replayLsn) this.replayLsn = k;
        return this.replayLsn;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}

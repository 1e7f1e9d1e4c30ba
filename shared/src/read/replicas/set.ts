import pTimeout from 'p-timeout';
import type { Registry } from 'prom-client';
import { createPool, type Queryable } from '../../db/pool.ts';
import type { Logger } from '../../log/index.ts';
import type { LsnKey } from '../cache/lsn.ts';
import type { ReadSettings } from '../settings.ts';
import { ReplicaMonitor } from './monitor.ts';
import { Replica, replicaName } from './replica.ts';

/** What a replica set needs. */
export interface ReplicaSetOptions {
  /** SLUICE_REPLICA_URLS */
  urls: readonly string[];
  /** The primary, for the monitor's WAL position. */
  primary: Queryable;
  checkMs: number;
  maxLagMs: number;
  poolMax: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  log: Logger;
  registry?: Registry;
}

/** A replica chosen for a read, with the LSN to stamp what it returns. */
export interface Picked {
  replica: Replica;
  /** The replica's replay position read before the query is sent: a lower bound of what the query sees. */
  stamp: LsnKey;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Time a "where is your replay now?" question gets even when the caller will not wait. */
const MIN_ASK_MS = 20;

/**
 * The read replicas: one pool each (created and closed here), the monitor,
 * and the choice of a replica for a read — round-robin over the healthy ones,
 * and for a read that needs `minLsn`, only one whose replay position is known
 * to be there.
 */
export class ReplicaSet {
  readonly replicas: readonly Replica[];
  readonly monitor: ReplicaMonitor;
  private next = 0;
  private stopping: Promise<void> | undefined;

  constructor(o: ReplicaSetOptions) {
    this.replicas = o.urls.map((url, i) => {
      const pool = createPool({ url, max: o.poolMax, connectTimeoutMs: o.connectTimeoutMs, statementTimeoutMs: o.statementTimeoutMs, applicationName: `${o.applicationName}-r${i}`, log: o.log });
      return new Replica(replicaName(url), pool);
    });
    this.monitor = new ReplicaMonitor({ primary: o.primary, replicas: this.replicas, checkMs: o.checkMs, maxLagMs: o.maxLagMs, log: o.log, ...(o.registry ? { registry: o.registry } : {}) });
  }

  /** First health check, then periodic ones. */
  async start(): Promise<void> {
    if (this.replicas.length > 0) await this.monitor.start();
  }

  /** Stop the monitor and close the pools. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.monitor.stop();
      await Promise.allSettled(this.replicas.map((r) => r.pool.end()));
    })();
    return this.stopping;
  }

  /** Replicas serving reads now. */
  healthy(): Replica[] {
    return this.replicas.filter((r) => r.usable && r.replayLsn !== undefined);
  }

  /**
   * A healthy replica for a read, or null (→ primary). With `minLsn` (a
   * consistency token, or a cache fence) only a replica known to have
   * replayed that far; if none is known to, ask them once, then keep asking
   * for up to `waitMs`.
   */
  async pick(minLsn: LsnKey | undefined, waitMs: number): Promise<Picked | null> {
    const first = this.choose(minLsn);
    if (first !== null || minLsn === undefined) return first;
    const deadline = Date.now() + waitMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 10)) {
      const healthy = this.healthy();
      if (healthy.length === 0) return null;
      // Bounded: a frozen replica must not hold the read (it is ejected by the monitor soon).
      await pTimeout(Promise.allSettled(healthy.map((r) => r.refreshReplay())), { milliseconds: Math.max(deadline - Date.now(), MIN_ASK_MS) }).catch(() => {});
      const got = this.choose(minLsn);
      if (got !== null) return got;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await sleep(Math.min(delay, left));
    }
  }

  private choose(minLsn: LsnKey | undefined): Picked | null {
    const n = this.replicas.length;
    for (let i = 0; i < n; i++) {
      const r = this.replicas[(this.next + i) % n]!;
      if (!r.usable || r.replayLsn === undefined) continue;
      if (minLsn !== undefined && r.replayLsn < minLsn) continue;
      this.next = (this.next + i + 1) % n;
      return { replica: r, stamp: r.replayLsn };
    }
    return null;
  }
}

/** The replica set the read settings name, on `primary` (its pools and monitor are the set's: `stop()` closes them). */
export function replicaSetOf(s: ReadSettings, primary: Queryable, applicationName: string, log: Logger, registry?: Registry): ReplicaSet {
  const r = s.replicas;
  return new ReplicaSet({
    urls: r.urls, primary, checkMs: r.checkMs, maxLagMs: r.maxLagMs, poolMax: r.pool.max, connectTimeoutMs: r.pool.connectTimeoutMs, statementTimeoutMs: r.pool.statementTimeoutMs,
    applicationName, log, ...(registry ? { registry } : {}),
  });
}

import pTimeout from 'p-timeout';
import { perRegistry } from '../../metrics/per-registry.ts';
import { Gauge, Registry } from 'prom-client';
import { every } from '../../lifecycle/every.ts';
import type { Queryable } from '../../db/pool.ts';
import type { Logger } from '../../log/index.ts';
import { lsnDistance, lsnKey, type LsnKey } from '../cache/lsn.ts';
import { REPLICA_STATES, type Replica, type ReplicaState } from './replica.ts';

/**
 * Checks every replica each `checkMs` and moves it between the states of
 * replica.ts:
 *
 *   unknown/down ──check ok, lag ≤ max──▶ healthy ──lag > max──▶ lagging
 *        ▲                                  ▲                     │
 *        └──── check fails (any state) ─────┴── lag ≤ max / 2 ────┘
 *
 * Lag in time is measured against the primary's own history: the monitor
 * keeps (time, pg_current_wal_lsn()) samples, and a replica whose replay
 * position is behind is as late as the oldest sample already past it (within
 * one check period). `now() − pg_last_xact_replay_timestamp()` alone would call
 * a replica of an idle primary hours late the moment a write arrives; the
 * smaller of the two is used. Half-limit readmission keeps a replica that
 * hovers at the limit from flapping.
 */

/** What the monitor needs. */
export interface ReplicaMonitorOptions {
  primary: Queryable;
  replicas: readonly Replica[];
  /** SLUICE_REPLICA_CHECK_MS */
  checkMs: number;
  /** SLUICE_MAX_REPLICA_LAG_MS */
  maxLagMs: number;
  log: Logger;
  /** Where the lag and state gauges go (default: a registry of its own). */
  registry?: Registry;
}

interface Sample {
  at: number;
  lsn: LsnKey;
}

interface Observation {
  inRecovery: boolean;
  replay: LsnKey | null;
  /** now() − pg_last_xact_replay_timestamp(), ms; null before the first replayed commit. */
  replayAgeMs: number | null;
}

const CHECK_SQL = `SELECT pg_is_in_recovery() AS rec, pg_last_wal_replay_lsn()::text AS replay,
  (extract(epoch FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 AS age_ms`;

/** Reject after `ms`: a frozen server never answers, and a check must not hang the loop. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return pTimeout(p, { milliseconds: ms, message: `${what}: no answer within ${ms} ms` });
}

/** The replica health and lag checker (see the module comment). */
export class ReplicaMonitor {
  readonly registry: Registry;
  private readonly samples: Sample[] = [];
  private readonly windowMs: number;
  private readonly timeoutMs: number;
  private loop: { stop(): void } | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private started = false;

  constructor(private readonly o: ReplicaMonitorOptions) {
    this.registry = o.registry ?? new Registry();
    this.windowMs = Math.max(4 * o.maxLagMs, 20 * o.checkMs);
    this.timeoutMs = Math.max(1000, 2 * o.checkMs);
    this.gauges();
  }

  /** First check (awaited: replicas serve reads as soon as this resolves), then one every `checkMs`. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.checkNow();
    if (this.stopped) return;
    this.loop = every(this.o.checkMs, () => this.checkNow(), (err) => this.o.log.warn({ err }, 'replica check failed'));
  }

  /** Stop checking; waits for a check in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.loop?.stop();
    await this.running;
  }

  /** Run one check now (shared with a check already running). */
  checkNow(): Promise<void> {
    this.running ??= this.check().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** A read on `replica` failed at the connection level: eject it until the next good check. */
  markDown(replica: Replica, why: string): void {
    this.transition(replica, 'down', why);
  }

  private async check(): Promise<void> {
    const now = Date.now();
    let primary: LsnKey | null = null;
    try {
      const { rows } = await withTimeout(this.o.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'), this.timeoutMs, 'primary');
      primary = lsnKey(rows[0]?.lsn ?? '');
    } catch (err) {
      this.o.log.warn({ err: { message: (err as Error).message } }, 'replica check: primary LSN unavailable; lag not updated');
    }
    if (primary !== null) this.addSample(now, primary);
    await Promise.all(this.o.replicas.map((r) => this.checkReplica(r, primary, now)));
  }

  private async checkReplica(r: Replica, primary: LsnKey | null, now: number): Promise<void> {
    let obs: Observation;
    try {
      const { rows } = await withTimeout(r.pool.query<{ rec: boolean; replay: string | null; age_ms: number | null }>(CHECK_SQL), this.timeoutMs, r.name);
      const row = rows[0];
      obs = { inRecovery: row?.rec === true, replay: row?.replay ? lsnKey(row.replay) : null, replayAgeMs: row?.age_ms ?? null };
    } catch (err) {
      this.transition(r, 'down', (err as Error).message);
      return;
    }
    if (!obs.inRecovery || obs.replay === null) {
      this.transition(r, 'down', obs.inRecovery ? 'no WAL replayed yet' : 'not in recovery (promoted, or not a standby)');
      return;
    }
    // The latest observation, not the maximum: after a replica restart its
    // replay position may start lower, and a stamp must never overstate it.
    r.replayLsn = obs.replay;
    if (primary !== null) {
      r.lagBytes = lsnDistance(obs.replay, primary);
      r.lagMs = r.lagBytes === 0 ? 0 : this.lagMs(obs, now);
    }
    this.transition(r, this.nextState(r), r.lagMs > this.o.maxLagMs ? `lag ${r.lagMs} ms > ${this.o.maxLagMs} ms` : '');
  }

  private nextState(r: Replica): ReplicaState {
    const max = this.o.maxLagMs;
    if (r.state === 'healthy') return r.lagMs > max ? 'lagging' : 'healthy';
    if (r.state === 'lagging') return r.lagMs <= max / 2 ? 'healthy' : 'lagging';
    return r.lagMs <= max ? 'healthy' : 'lagging';
  }

  /** Time since the primary first passed the replica's replay position (see the module comment). */
  private lagMs(obs: Observation, now: number): number {
    let since = now;
    for (const s of this.samples) {
      if (s.lsn > obs.replay!) {
        since = s.at;
        break;
      }
    }
    const bySamples = now - since;
    return Math.round(obs.replayAgeMs === null ? bySamples : Math.min(bySamples, Math.max(0, obs.replayAgeMs)));
  }

  private addSample(at: number, lsn: LsnKey): void {
    const last = this.samples[this.samples.length - 1];
    if (last === undefined || lsn > last.lsn) this.samples.push({ at, lsn });
    // Keep one sample older than the window: a replica stuck behind it is at least that late.
    while (this.samples.length > 2 && this.samples[1]!.at < at - this.windowMs) this.samples.shift();
  }

  private transition(r: Replica, to: ReplicaState, reason: string): void {
    const from = r.state;
    r.state = to;
    r.reason = reason;
    if (from === to) return;
    const fields = { replica: r.name, from, to, lagMs: r.lagMs, lagBytes: r.lagBytes, reason: reason || undefined };
    if (to === 'healthy') this.o.log.info(fields, 'replica admitted for reads');
    else this.o.log.warn(fields, 'replica ejected from reads');
  }

  /** Lag and state gauges over the replicas of every monitor on this registry (one per shard). */
  private gauges(): void {
    const registers = [this.registry];
    const sets = perRegistry(this.registry, 'replica-gauges', () => {
      const all: (readonly Replica[])[] = [];
      const each = (f: (r: Replica) => void) => all.forEach((set) => set.forEach(f));
      new Gauge({
        name: 'sluice_replica_lag_seconds',
        help: 'Estimated replay lag of each read replica behind the primary',
        labelNames: ['replica'],
        registers,
        collect() {
          each((r) => this.set({ replica: r.name }, r.lagMs / 1000));
        },
      });
      new Gauge({
        name: 'sluice_replica_lag_bytes',
        help: 'WAL bytes each read replica has not replayed yet (at the last check)',
        labelNames: ['replica'],
        registers,
        collect() {
          each((r) => this.set({ replica: r.name }, r.lagBytes));
        },
      });
      new Gauge({
        name: 'sluice_replica_state',
        help: 'State of each read replica (1 for the current state): unknown, healthy, lagging (ejected), down (ejected)',
        labelNames: ['replica', 'state'],
        registers,
        collect() {
          each((r) => {
            for (const s of REPLICA_STATES) this.set({ replica: r.name, state: s }, r.state === s ? 1 : 0);
          });
        },
      });
      return all;
    });
    sets.push(this.o.replicas);
  }
}

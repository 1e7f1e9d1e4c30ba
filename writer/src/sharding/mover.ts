import type { Histogram } from 'prom-client';
import { withTransaction, type Pool, type PoolClient } from '@sluice/shared/db/pool.ts';
import { every } from '@sluice/shared/lifecycle/every.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { PartitionLogs } from '@sluice/shared/partition-log/partition-log.ts';
import { logBacklog, sealRange, startLogging, stopLogging, waitForRunningTransactions } from '@sluice/shared/sql/move-log.ts';
import { activeMove, updateMove, type MoveRow } from '@sluice/shared/sql/shard-moves.ts';
import { rangeBounds } from '@sluice/shared/topology/key-ranges.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { Topology } from '@sluice/shared/topology/topology.ts';
import { barrierPassed, pendingRangeWrites, targetStandbysCaughtUp } from './cutover-waits.ts';
import { checksums, copyRange, deleteRange, replayLog, type Checksums, type MoveScope } from './move-data.ts';
import type { RangeSql } from './range-sql.ts';

/**
 * The mover: drives the one unfinished move (`sluice.shard_moves`) step by
 * step. One writer at a time holds the mover lock (a session advisory lock on
 * the first shard: it goes with its connection when a writer dies), and every
 * step is recorded before the next, so the next holder resumes.
 *
 *   pending      check the range; source starts logging the range
 *                (`active_moves`); the map gets the move (phase copying);
 *                wait out transactions that may not have seen it
 *   copying      copy the range under one snapshot (a resumed copy clears
 *                the target's range first)
 *   catching-up  replay the source's log on the target until it is short
 *   cutover      switch: gateways route the range to the target, whose
 *                writers hold those writes → every gateway routes by the new
 *                map → a barrier job on each source partition is applied
 *                (the source's last writes of the range are in) → the log is
 *                drained → both sides verified (count and hash per table) →
 *                the map gives the range to the target, the held writes go
 *   cleanup      delete the range from the source, in chunks
 * Cancel (before cutover) or a failed check undoes the move: the source stops
 * logging, the target's copy is deleted, the map forgets the move.
 */

/** What the mover needs. */
export interface MoverDeps {
  topology: Topology;
  /** Range statements of each sharded table (with its shard column). */
  tables: readonly RangeSql[];
  /** The queue's partition logs (barrier jobs). */
  logs: PartitionLogs;
  /** Live gateways → the map version each routes by. */
  gateways(): Promise<Map<string, number>>;
  /** Shard-key values of ops (pending writes of the range). */
  router: ShardRouter;
  log: Logger;
  pauseSeconds?: Histogram;
  /** Read models over sharded tables: their groups of a range (shared/src/views/sql.ts viewRangeStatements). */
  views?: readonly { name: string; clear: string; fill: string }[];
}

const MOVER_LOCK = 7_240_002;
/** Log entries left under which the cutover starts (a short drain). */
const CUTOVER_BELOW = 500;
/** Copies of a sealed range tried when it does not verify, before the move fails. */
const RECOPIES = 2;
const TICK_MS = 100;

/** Runs the mover loop in this writer (see the module comment). */
export class Mover {
  private lock: PoolClient | undefined;
  private loop: { stop(): void } | undefined;
  private running: Promise<void> | undefined;
  /** ms into the cutover pause at which its steps ended (logged at the end of the pause). */
  private stepMs: Record<string, number> = {};

  constructor(private readonly d: MoverDeps) {}

  start(): void {
    this.loop = every(TICK_MS, () => (this.running = this.tick()), (err) => this.d.log.warn({ err }, 'mover step failed; trying again'));
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    await this.running?.catch(() => {});
    this.lock?.release();
    this.lock = undefined;
  }

  private async tick(): Promise<void> {
    const meta = this.d.topology.metaDb;
    const move = await activeMove(meta);
    if (move === null || !(await this.holdLock())) return;
    const scope: MoveScope = { lo: move.lo, hi: move.hi, tables: this.d.tables };
    switch (move.state) {
      case 'pending': return this.begin(move, scope);
      case 'copying': return this.copy(move, scope);
      case 'catching-up': return this.catchUp(move, scope);
      case 'cutover': return this.cutover(move, scope);
      case 'cleanup': return this.cleanup(move, scope);
      case 'cancelling': return this.undo(move, scope, 'cancelled', null);
      default:
    }
  }

  /** Take (or keep) the mover lock on a connection of our own. */
  private async holdLock(): Promise<boolean> {
    if (this.lock !== undefined) return true;
    const client = await this.d.topology.metaDb.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MOVER_LOCK]);
    if (!rows[0]!.ok) {
      client.release();
      return false;
    }
    client.on('error', () => {
      this.lock = undefined; // the lock went with the connection
    });
    this.lock = client;
    return true;
  }

  private async begin(m: MoveRow, s: MoveScope): Promise<void> {
    const problem = await this.check(m, s);
    if (problem !== null) return this.undo(m, s, 'failed', problem);
    const source = this.d.topology.db(m.source);
    await startLogging(source, { moveId: m.id, lo: m.lo, hi: m.hi });
    await this.d.topology.propose((map) => (map.moves.some((x) => x.id === m.id) ? null : map.withMove({ id: m.id, lo: m.lo, hi: m.hi, from: m.source, to: m.target, phase: 'copying' })), `move ${m.id}: copying`);
    await waitForRunningTransactions(source);
    await updateMove(this.d.topology.metaDb, m.id, { state: 'copying' }, ['pending']);
    this.d.log.info({ move: m.id }, 'move: logging the range on the source; copying');
  }

  /** Null when the move can go ahead, else why not. */
  private async check(m: MoveRow, s: MoveScope): Promise<string | null> {
    const map = this.d.topology.map;
    if (!map.shardNames.includes(m.source) || !map.shardNames.includes(m.target)) return `unknown shard (${m.source} → ${m.target})`;
    if (m.source === m.target) return 'source and target are the same shard';
    if (m.lo !== null && m.hi !== null && m.lo >= m.hi) return 'from must be below to';
    const r = rangeBounds(map.ranges, m.lo ?? Number.MIN_SAFE_INTEGER);
    if (r.shard !== m.source) return `keys from ${m.lo} live on ${r.shard}, not ${m.source}`;
    if ((r.lo !== null && (m.lo === null || m.lo < r.lo)) || (r.hi !== null && (m.hi === null || m.hi > r.hi))) return `the range must lie within one range of the map (${r.lo ?? '-∞'}…${r.hi ?? '∞'} on ${r.shard})`;
    const onTarget = await checksums(this.d.topology.db(m.target), s);
    const busy = Object.entries(onTarget).filter(([, c]) => c.n > 0);
    if (busy.length > 0) return `the target already holds rows of the range (${busy.map(([t, c]) => `${t}: ${c.n}`).join(', ')})`;
    return null;
  }

  private async copy(m: MoveRow, s: MoveScope): Promise<void> {
    const meta = this.d.topology.metaDb;
    const target = this.d.topology.db(m.target);
    await deleteRange(target, s); // a resumed copy starts over
    const copied = await copyRange(this.d.topology.db(m.source), target, s, (snapshot) => updateMove(meta, m.id, { snapshot, rowsCopied: 0 }).then(() => {}), (n) => updateMove(meta, m.id, { rowsCopied: n }).then(() => {}));
    await updateMove(meta, m.id, { state: 'catching-up', rowsCopied: copied }, ['copying']);
    this.d.log.info({ move: m.id, rows: copied }, 'move: copied; catching up from the log');
  }

  private async catchUp(m: MoveRow, s: MoveScope): Promise<void> {
    const source = this.d.topology.db(m.source);
    const r = await replayLog(source, this.d.topology.db(m.target), m.id, m.snapshot, s);
    if (r.applied > 0) await updateMove(this.d.topology.metaDb, m.id, { rowsLogged: m.rowsLogged + r.applied });
    if ((await logBacklog(source, m.id)) < CUTOVER_BELOW && (await targetStandbysCaughtUp(this.d, m))) {
      await updateMove(this.d.topology.metaDb, m.id, { state: 'cutover', step: 'switch' }, ['catching-up']);
      this.d.log.info({ move: m.id }, 'move: caught up; cutting over');
    }
  }

  /** The cutover, one recorded step at a time (`step` = name:version:switched-at). */
  private async cutover(m: MoveRow, s: MoveScope): Promise<void> {
    const meta = this.d.topology.metaDb;
    const [step, v, at] = (m.step ?? 'switch').split(':');
    const since = Number(at ?? Date.now());
    if (step === 'switch') {
      const map = await this.d.topology.propose((x) => (x.moves.find((y) => y.id === m.id)?.phase === 'switching' ? null : x.withMovePhase(m.id, 'switching')), `move ${m.id}: switching`);
      await updateMove(meta, m.id, { step: `gateways:${map.version}:${Date.now()}` });
      return;
    }
    // While the gateways and the barrier are waited for, the log keeps being applied: the last drain is short.
    if (step === 'gateways' || step === 'barrier') await replayLog(this.d.topology.db(m.source), this.d.topology.db(m.target), m.id, m.snapshot, s);
    if (step === 'gateways') {
      const behind = [...(await this.d.gateways()).values()].filter((x) => x < Number(v));
      if (behind.length > 0) return;
      this.stepMs.gateways = Date.now() - since;
      await updateMove(meta, m.id, { step: `barrier:${v}:${since}` });
      return;
    }
    if (step === 'barrier') {
      if (!(await barrierPassed(this.d, m)) || (await pendingRangeWrites(this.d, m)) > 0) return;
      this.stepMs.barrier = Date.now() - since;
      await updateMove(meta, m.id, { step: `drain:${v}:${since}` });
      return;
    }
    await this.finish(m, s, since);
  }

  private async finish(m: MoveRow, s: MoveScope, since: number): Promise<void> {
    const source = this.d.topology.db(m.source);
    const target = this.d.topology.db(m.target);
    // Sealed: from here no write of the range may commit on the source (a late one fails and is retried);
    // if one is still queued, unseal and wait for it to commit and be logged first.
    await sealRange(source, m.id, true);
    if ((await pendingRangeWrites(this.d, m)) > 0) {
      await sealRange(source, m.id, false);
      await updateMove(this.d.topology.metaDb, m.id, { step: m.step!.replace(/^drain:/, 'barrier:') });
      return;
    }
    while ((await replayLog(source, target, m.id, m.snapshot, s)).read > 0);
    this.stepMs.drained = Date.now() - since;
    let verify = await this.verify(source, target, s);
    let recopies = 0;
    // The source is final for the range now (switched, past the barrier, sealed): a mismatch is
    // repaired by copying the range again, not by failing the writes the target holds.
    for (; recopies < RECOPIES && !verify.same; recopies++) {
      this.d.log.error({ move: m.id, verify }, 'move: the range differs between source and target after the log; copying it again from the sealed source');
      await deleteRange(target, s);
      await copyRange(source, target, s, async () => {}, async () => {});
      verify = await this.verify(source, target, s);
    }
    this.stepMs.verified = Date.now() - since;
    if (!verify.same) {
      await sealRange(source, m.id, false);
      return this.undo(m, s, 'failed', `verification failed: ${JSON.stringify(verify)}`);
    }
    // The views' groups of the range, from the verified rows (the copy and the log wrote rows, not groups).
    await this.rebuildViewGroups(target, s);
    this.stepMs.views = Date.now() - since;
    const done = await this.d.topology.propose((x) => (x.moves.some((y) => y.id === m.id) ? x.withMoveEnded(m.id, true) : null), `move ${m.id}: done`);
    const pauseMs = Date.now() - since;
    await stopLogging(source, m.id);
    await updateMove(this.d.topology.metaDb, m.id, { state: 'cleanup', step: `cleanup:${done.version}`, pauseMs, verify: { source: verify.source, target: verify.target, recopies } }, ['cutover']);
    this.d.pauseSeconds?.observe(pauseMs / 1000);
    // Time into the pause at which each step ended (only those this mover saw: a resumed cutover lacks the earlier ones).
    this.d.log.info({ move: m.id, pauseMs, steps: this.stepMs, verify }, 'move: cut over; the target owns the range; deleting it from the source');
    this.stepMs = {};
  }

  /** Recompute every view's groups of the range on `target`, in one transaction (a re-run after a crash does the same). */
  private async rebuildViewGroups(target: Pool, s: MoveScope): Promise<void> {
    const views = this.d.views ?? [];
    if (views.length === 0) return;
    await withTransaction(target, async (client) => {
      for (const v of views) {
        // Only a view that is ready here: one still being built on this shard is not moved into (README "Read models", limits).
        const { rows } = await client.query<{ state: string }>('SELECT state FROM sluice.views WHERE name = $1', [v.name]);
        if (rows[0]?.state !== 'ready') continue;
        await client.query(v.clear, [s.lo, s.hi]);
        await client.query(v.fill, [s.lo, s.hi]);
      }
    });
  }

  /** Row counts and hashes of the range on both sides, per table. */
  private async verify(source: Pool, target: Pool, s: MoveScope): Promise<{ same: boolean; source: Checksums; target: Checksums }> {
    const [a, b] = await Promise.all([checksums(source, s), checksums(target, s)]);
    return { same: JSON.stringify(a) === JSON.stringify(b), source: a, target: b };
  }

  /** Delete the range from the source, once no live gateway reads it there any more (every one routes by the final map). */
  private async cleanup(m: MoveRow, s: MoveScope): Promise<void> {
    const version = Number((m.step ?? 'cleanup:0').split(':')[1]);
    const behind = [...(await this.d.gateways()).values()].filter((x) => x < version);
    if (behind.length > 0) return;
    const deleted = await deleteRange(this.d.topology.db(m.source), s, 5);
    // The source's view groups of the range went with its rows.
    for (const v of this.d.views ?? []) await this.d.topology.db(m.source).query(v.clear, [s.lo, s.hi]).catch((err: unknown) => (isUndefinedTable(err) ? undefined : Promise.reject(err)));
    await updateMove(this.d.topology.metaDb, m.id, { state: 'done', rowsDeleted: m.rowsDeleted + deleted, finished: true }, ['cleanup']);
    this.d.log.info({ move: m.id, deleted }, 'move done');
  }

  /** Take the move back (before the range switched for good): stop logging, drop the copy, forget it in the map. */
  private async undo(m: MoveRow, s: MoveScope, to: 'cancelled' | 'failed', error: string | null): Promise<void> {
    await stopLogging(this.d.topology.db(m.source), m.id);
    await this.d.topology.propose((x) => (x.moves.some((y) => y.id === m.id) ? x.withMoveEnded(m.id, false) : null), `move ${m.id}: ${to}`);
    // Only a copy this move made is deleted: a move refused while pending copied nothing.
    if (m.state !== 'pending' && m.target !== m.source) await deleteRange(this.d.topology.db(m.target), s);
    await updateMove(this.d.topology.metaDb, m.id, { state: to, error, finished: true });
    this.d.log.warn({ move: m.id, error }, `move ${to}`);
  }
}

/** 42P01: the view's table does not exist on that shard (not built there yet). */
function isUndefinedTable(err: unknown): boolean {
  return (err as { code?: string }).code === '42P01';
}

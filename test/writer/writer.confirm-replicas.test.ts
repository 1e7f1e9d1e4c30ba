/**
 * The standby confirmation behind RELIABILITY row 34 (writer/src/confirm/),
 * against a real primary and a `pg_basebackup -R` streaming replica: a
 * commit is confirmed once the replica has flushed it; with the primary's
 * WAL sender frozen it is not, and the timeout's choice (`complete` or
 * `wait`) is honoured and counted; a server on another timeline, a standby,
 * or an old primary behind the address is refused with a retryable error.
 * Also the WAL-position helpers of shared/src/sql/replication.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool, type Pool, type Queryable } from '@sluice/shared/db/pool.ts';
import { lsnValue, standbysAt, standbysBehind, standbyState, timelineOfWalFile } from '@sluice/shared/sql/replication.ts';
import { startPostgres, startReplica, type LocalPostgres } from '@sluice/local-servers/postgres.ts';
import { StandbyConfirmer, type ConfirmSettings } from '../../writer/src/confirm/confirmer.ts';
import { NotPrimaryError, StaleTimelineError, TimelineChangedError } from '../../writer/src/confirm/errors.ts';
import { classify } from '../../writer/src/flush/classify.ts';
import { confirmReplicasOf } from '../../writer/src/confirm/wiring.ts';
import { eventually } from '../harness/index.ts';

const log = createLogger('test', 'silent');
let primary: LocalPostgres;
let replica: LocalPostgres;
let db: Pool;
let replicaDb: Pool;

const poolOf = (url: string) => createPool({ url, max: 2, connectTimeoutMs: 5000, statementTimeoutMs: 10_000, applicationName: 'confirm-test', log });

beforeAll(async () => {
  primary = await startPostgres({ fsync: false });
  replica = await startReplica(primary, { fsync: false });
  db = poolOf(primary.url);
  replicaDb = poolOf(replica.url);
  await db.query('CREATE TABLE t (v int)');
  await eventually(async () => expect((await standbyState(db, 'flush')).positions).toHaveLength(1), 20_000);
}, 120_000);
afterAll(async () => {
  await Promise.allSettled([db?.end(), replicaDb?.end()]);
  await Promise.allSettled([replica?.destroy(), primary?.destroy()]);
});

/** A commit and its position, as the flush takes it. */
async function commit(): Promise<{ lsn: string; timeline: number }> {
  await db.query('INSERT INTO t VALUES (1)');
  const { rows } = await db.query<{ lsn: string; wal: string }>("SELECT pg_logical_emit_message(false, 'sluice', '')::text AS lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal");
  return { lsn: rows[0]!.lsn, timeline: timelineOfWalFile(rows[0]!.wal) };
}

function counting() {
  const n = { confirmed: 0, unconfirmed: 0, timelineChanged: 0 };
  return { n, m: { confirmed: () => void n.confirmed++, unconfirmed: () => void n.unconfirmed++, timelineChanged: () => void n.timelineChanged++ } };
}

const settings = (o: Partial<ConfirmSettings> = {}): ConfirmSettings => ({ replicas: 1, position: 'flush', timeoutMs: 800, onTimeout: 'complete', ...o });

/** The WAL sender of the replica, frozen (SIGSTOP) while `fn` runs. */
async function withWalSenderHeld<T>(fn: () => Promise<T>): Promise<T> {
  const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_replication');
  const pid = rows[0]!.pid;
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('WAL positions', () => {
  it('compares positions as numbers, counts standbys at a position, reads timelines of WAL file names', () => {
    expect(lsnValue('0/10') < lsnValue('0/FF')).toBe(true);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(standbysAt(['0/20', null, '0/10'], '0/15')).toBe(1);
    expect(timelineOfWalFile('0000000A0000000000000003')).toBe(10);
    expect(() => lsnValue('nope')).toThrow();
  });

  it('SLUICE_CONFIRM_REPLICAS defaults to 1 with replicas configured, 0 without; an explicit value wins', () => {
    expect(confirmReplicasOf({ SLUICE_CONFIRM_REPLICAS: undefined }, ['postgres://r'])).toBe(1);
    expect(confirmReplicasOf({ SLUICE_CONFIRM_REPLICAS: undefined }, [])).toBe(0);
    expect(confirmReplicasOf({ SLUICE_CONFIRM_REPLICAS: 0 }, ['postgres://r'])).toBe(0);
    expect(confirmReplicasOf({ SLUICE_CONFIRM_REPLICAS: 2 }, [])).toBe(2);
  });
});

describe('StandbyConfirmer against a streaming replica', () => {
  it('confirms a commit once the replica has flushed it; the mover’s standbysBehind agrees once replayed', async () => {
    const { n, m } = counting();
    const c = new StandbyConfirmer('main', db, settings(), m, log);
    const pos = await commit();
    await c.confirm(pos);
    const st = await standbyState(db, 'flush');
    expect(standbysAt(st.positions, pos.lsn)).toBe(1);
    expect(n).toEqual({ confirmed: 1, unconfirmed: 0, timelineChanged: 0 });
    await eventually(async () => expect(await standbysBehind(db, pos.lsn)).toBe(0));
  });

  it('with the WAL sender held: `complete` completes after the timeout, counted', async () => {
    const { n, m } = counting();
    const c = new StandbyConfirmer('main', db, settings({ timeoutMs: 500 }), m, log);
    await withWalSenderHeld(async () => {
      const pos = await commit();
      const t0 = performance.now();
      await c.confirm(pos);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(500);
      expect(standbysAt((await standbyState(db, 'flush')).positions, pos.lsn)).toBe(0);
    });
    expect(n.unconfirmed).toBe(1);
  });

  it('with the WAL sender held: `wait` keeps waiting past the timeout, and confirms once the replica has the commit', async () => {
    const { n, m } = counting();
    const c = new StandbyConfirmer('main', db, settings({ timeoutMs: 300, onTimeout: 'wait' }), m, log);
    let settled = false;
    const waiting = await withWalSenderHeld(async () => {
      const w = c.confirm(await commit()).then(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 900));
      expect(settled, 'still waiting past the timeout').toBe(false);
      // Wrapped: an async function returning the promise itself would wait for it, before the WAL sender is thawed.
      return { w };
    });
    await waiting.w;
    expect(n.unconfirmed).toBe(1);
    expect(n.confirmed).toBe(1);
  });

  it('a commit on another timeline than the primary is on now is refused (replayed by the retry); so is a standby', async () => {
    const { n, m } = counting();
    const c = new StandbyConfirmer('main', db, settings(), m, log);
    const pos = await commit();
    await expect(c.confirm({ ...pos, timeline: pos.timeline + 1 })).rejects.toBeInstanceOf(TimelineChangedError);
    expect(n.timelineChanged).toBe(1);
    const onStandby = new StandbyConfirmer('main', replicaDb, settings(), m, log);
    const err = await onStandby.confirm(pos).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotPrimaryError);
    expect(classify(err)).toBe('retry');
  });

  it('after a promotion, an old primary back behind the address is never confirmed', async () => {
    // The address: whichever server `target` names.
    let target: Queryable = db;
    const address: Queryable = { query: ((text: string, values?: unknown[]) => target.query(text, values)) as Queryable['query'] };
    const { m } = counting();
    const c = new StandbyConfirmer('main', address, settings(), m, log);
    const old = await commit();
    await c.confirm(old);
    await replicaDb.query('SELECT pg_promote(true, 60)');
    // The old primary still takes commits; the promoted server never gets them.
    const lost = await commit();
    target = replicaDb;
    // The promoted server writes on the next timeline: the commit of the old one is refused (its batch is replayed).
    await expect(c.confirm(lost)).rejects.toBeInstanceOf(TimelineChangedError);
    target = db;
    const again = await commit();
    const err = await c.confirm(again).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleTimelineError);
    expect(classify(err)).toBe('retry');
  });
});

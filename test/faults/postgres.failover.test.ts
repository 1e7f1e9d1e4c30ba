/**
 * RELIABILITY row 34: a primary SIGKILLed with commits its asynchronous
 * replica never received; the replica promoted; the address (a TCP proxy,
 * as a virtual IP or PgBouncer would be) moved to it.
 *
 * Under a live load of `queued` and `committed` writes, the primary's WAL
 * sender is frozen for 2 s (the primary goes on committing, the replica gets
 * nothing), then the primary is killed, the replica promoted, the address
 * moved. With confirmation (SLUICE_CONFIRM_REPLICAS defaults to 1 when
 * replicas are configured) the writer kept every job whose commit no standby
 * had in Redis and replays it on the new primary: the set checker finds 0
 * acknowledged writes lost, 0 applied twice, per-key order kept. Without
 * confirmation (SLUICE_CONFIRM_REPLICAS=0, the old behaviour) the same run
 * loses acknowledged writes: the test can fail.
 *
 * Then fencing: the old primary is started again from its own data folder
 * (a read-write server on the old timeline, as after an unplanned restart)
 * and the address is moved to it, with a writer started after the failover
 * that has never seen the new primary. Sluice must commit nothing there
 * (the timeline floor in Redis: writer/src/confirm/timeline-floor.ts), the
 * writes stay queued, and once the address leads back to the new primary
 * everything commits: 0 lost, 0 applied twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool } from '@sluice/shared/db/pool.ts';
import type { TsProcess } from '@sluice/local-servers/processes.ts';
import { check, drainAndCheck, expectSound, logged, type History } from './support/index.ts';
import { eventually } from '../harness/index.ts';
import { FailoverCluster } from './support/failover-cluster.ts';
import { startLoad } from './support/load.ts';

let cluster: FailoverCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const HOLD_MS = 2000;
const step = (what: string, o: object = {}) => console.info(`[row 34] ${what} ${JSON.stringify(o)}`);

interface Run {
  history: History;
  /** WAL bytes the replica never received when the primary died. */
  gapBytes: number;
  /** From the kill to the first `committed` ack of a write sent after it. */
  recoveryMs: number;
  /** From the kill to the first commit on the promoted server (a row the load upserted, applied there). */
  firstCommitMs: number;
  writerOutput: string;
  gatewayUrl: string;
  writer: TsProcess;
}

/** The scenario: load, hold the WAL sender, kill the primary, promote, move the address. */
async function failoverUnderLoad(env: Record<string, string>): Promise<Run> {
  const c = (cluster = await FailoverCluster.startFailover({ SLUICE_CONFIRM_TIMEOUT_MS: '8000', ...env }));
  const gateways = [await c.startGateway({}, 'gateway-a'), await c.startGateway({}, 'gateway-b')];
  const writer = await c.startWriter('writer');
  // 24 clients, half `queued` half `committed` (even / odd).
  const load = startLoad({ urls: gateways.map((g) => g.url), clients: 24, timeoutMs: 30_000 });
  await eventually(() => expect(load.acknowledged).toBeGreaterThan(400), 90_000);
  step('load running', { acknowledged: load.acknowledged });

  await c.holdWalSender();
  const before = load.acknowledged;
  await new Promise((r) => setTimeout(r, HOLD_MS));
  expect(load.acknowledged, 'writes went on while the WAL sender was held').toBeGreaterThan(before);
  const gapBytes = await c.replicaGap();
  step('WAL sender held', { acknowledged: load.acknowledged, gapBytes });
  const killedAt = performance.now();
  const killedAtWall = Date.now();
  c.killPrimary();
  await c.promoteReplica();
  c.moveAddressToReplica();
  step('promoted and moved', { acknowledged: load.acknowledged, ms: Math.round(performance.now() - killedAt) });

  const moved = load.acknowledged;
  await eventually(() => expect(load.acknowledged).toBeGreaterThan(moved + 600), 120_000);
  step('writes resumed', { acknowledged: load.acknowledged });
  const history = await load.stop();
  const firstCommit = history.ops.filter((o) => o.ack === 'committed' && o.outcome === 'ok' && o.status !== 504 && o.start > killedAt).reduce((m, o) => Math.min(m, o.end), Number.POSITIVE_INFINITY);
  const { rows } = await c.pool.query<{ at: Date | null }>('SELECT min(at) AS at FROM f_key_history WHERE at > $1', [new Date(killedAtWall)]);
  const firstCommitMs = rows[0]!.at === null ? -1 : rows[0]!.at.getTime() - killedAtWall;
  return { history, gapBytes, recoveryMs: Math.round(firstCommit - killedAt), firstCommitMs, writerOutput: writer.output(), gatewayUrl: gateways[0]!.url, writer };
}

describe('row 34: primary failover to an asynchronous replica', () => {
  it('with confirmation: 0 acknowledged writes lost, 0 applied twice, per-key order kept', { timeout: 300_000 }, async () => {
    const run = await failoverUnderLoad({});
    const verdict = await drainAndCheck(cluster!, run.history, 120_000);
    expectSound(verdict);
    expect(run.gapBytes, 'the replica missed WAL when the primary died').toBeGreaterThan(0);
    expect(logged(run.writerOutput, 'batch failed; retrying the same batch'), 'the writer retried over the failover').toBe(true);
    expect(logged(run.writerOutput, 'primary changed timeline: cached rows of the shard dropped')).toBe(true);
    // Reads: every upserted key reads back as the new primary holds it (nothing cached from a lost commit is served).
    const { rows } = await cluster!.pool.query<{ k: string; v: number }>('SELECT k, v FROM f_keys ORDER BY k');
    const stale: string[] = [];
    for (const r of rows) {
      const res = await fetch(`${run.gatewayUrl}/v1/tables/f_keys/${encodeURIComponent(r.k)}`);
      const body = (await res.json()) as { v?: number };
      if (res.status !== 200 || body.v !== r.v) stale.push(`${r.k}: read ${res.status} ${JSON.stringify(body)} (${res.headers.get('sluice-source')}), database ${r.v}`);
    }
    expect(rows.length).toBeGreaterThan(0);
    expect(stale).toEqual([]);
    console.info(`[row 34] verdict ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed, unknown: verdict.unknown, lost: verdict.lost.length, duplicates: verdict.duplicates.length, gapBytes: run.gapBytes, firstCommitMs: run.firstCommitMs, recoveryMs: run.recoveryMs })}`);
  });

  it('without confirmation (SLUICE_CONFIRM_REPLICAS=0) the same failover loses acknowledged writes', { timeout: 300_000 }, async () => {
    const run = await failoverUnderLoad({ SLUICE_CONFIRM_REPLICAS: '0' });
    await eventually(async () => expect(await cluster!.backlog()).toBe(0), 120_000).catch(async (err: unknown) => {
      // What holds the backlog: which partitions, in what state, and whether the writer is still alive.
      console.error(`[row 34 without confirmation] not drained: ${JSON.stringify({ partitions: await cluster!.backlogByPartition(), counts: await cluster!.jobCounts(), writerExited: run.writer.done, exitCode: run.writer.child.exitCode, signal: run.writer.child.signalCode })}`);
      console.error(`[row 34 without confirmation] writer output (last lines):\n${run.writer.output().split('\n').slice(-40).join('\n')}`);
      throw err;
    });
    const verdict = await check(cluster!.checkPools(), run.history);
    expect(verdict.duplicates).toEqual([]);
    expect(verdict.lost.length, 'acknowledged writes lost with the commits the replica never received').toBeGreaterThan(0);
    console.info(`[row 34 without confirmation] ${JSON.stringify({ acknowledged: verdict.acknowledged, lost: verdict.lost.length, gapBytes: run.gapBytes, firstCommitMs: run.firstCommitMs, recoveryMs: run.recoveryMs })}`);
  });

  it('an old primary back behind the address commits nothing; the writes wait in the queue and commit once the address is right', { timeout: 300_000 }, async () => {
    const c = (cluster = await FailoverCluster.startFailover({ SLUICE_CONFIRM_TIMEOUT_MS: '8000' }));
    const gateways = [await c.startGateway({}, 'gateway-a'), await c.startGateway({}, 'gateway-b')];
    const first = await c.startWriter('writer-1');
    const load = startLoad({ urls: gateways.map((g) => g.url), clients: 24, timeoutMs: 30_000 });
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(400), 90_000);
    c.killPrimary();
    await c.promoteReplica();
    c.moveAddressToReplica();
    const moved = load.acknowledged;
    await eventually(() => expect(load.acknowledged).toBeGreaterThan(moved + 600), 120_000);
    step('writes on the new primary', { acknowledged: load.acknowledged });

    // The writer that saw the promotion goes; the old primary comes back read-write from its own data folder.
    await first.stop();
    await c.primary.start();
    const old = createPool({ url: c.primary.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 10_000, applicationName: 'fault-old-primary', log: createLogger('fault-check', 'silent') });
    try {
      const snapshot = async () =>
        (
          await old.query<Record<string, string>>(
            `SELECT (SELECT count(*) FROM f_items)::text AS items, (SELECT count(*) FROM f_key_history)::text AS upserts,
                    (SELECT count(*) FROM sluice.applied_jobs)::text AS jobs, (SELECT count(*) FROM sluice.dead_letters)::text AS dead,
                    (SELECT coalesce(sum(token), 0) FROM sluice.partition_fences)::text AS tokens, pg_is_in_recovery()::text AS recovery`,
          )
        ).rows[0]!;
      const atStart = await snapshot();
      expect(atStart.recovery, 'the old primary is back as a read-write server').toBe('false');
      c.address.moveTo({ host: '127.0.0.1', port: c.primary.port });
      // A writer that has only ever seen the old primary: it knows the new timeline from Redis alone.
      const second = await c.startWriter('writer-2');
      const atMove = load.acknowledged;
      const backlogAtMove = await c.backlog();
      // Writes go on being accepted (queued acks) while nothing commits.
      await eventually(() => expect(load.acknowledged).toBeGreaterThan(atMove + 300), 60_000);
      await new Promise((r) => setTimeout(r, 3000));
      const backlog = await c.backlog();
      step('old primary behind the address', { acknowledged: load.acknowledged, backlogAtMove, backlog, old: atStart });
      expect(await snapshot(), 'Sluice committed nothing on the old primary').toEqual(atStart);
      expect(backlog, 'the writes wait in the queue').toBeGreaterThan(backlogAtMove);
      expect(second.output(), 'the refusal is logged').toContain('an old primary is back behind the address');

      c.moveAddressToReplica();
      const back = load.acknowledged;
      await eventually(() => expect(load.acknowledged).toBeGreaterThan(back + 300), 120_000);
      const history = await load.stop();
      const verdict = await drainAndCheck(c, history, 120_000);
      expectSound(verdict);
      expect(await snapshot(), 'still nothing on the old primary').toEqual(atStart);
      console.info(`[row 34 fencing] verdict ${JSON.stringify({ attempted: verdict.attempted, acknowledged: verdict.acknowledged, committed: verdict.committed, unknown: verdict.unknown, lost: verdict.lost.length, duplicates: verdict.duplicates.length, queuedWhileFenced: backlog })}`);
    } finally {
      await old.end();
    }
  });
});

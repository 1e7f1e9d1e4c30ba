/**
 * Mixed versions (issue 15): a canary gateway writes a newer job payload
 * version (SLUICE_PAYLOAD_VERSION=2) while every writer is of the old build
 * (simulated: the test-only fail point `payload-read-max=1` makes a writer
 * read v1 only, as the build before v2 did). Before, such a writer failed the
 * job: kept in BullMQ's failed set, never applied, a lost write for a client
 * that got 202.
 *
 * Now the old writers stop consuming a partition at its first v2 job (the
 * jobs before it commit; it and everything behind it stay queued, in order,
 * their takes not counted), and say so in a metric and a log line. Then the
 * writers are upgraded (stopped, started without the cap): every acknowledged
 * write is applied exactly once and each key's writes in the order sent —
 * each op goes to either gateway at random, so a key's writes mix v1 and v2
 * jobs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from '@sluice/shared/redis/connections.ts';
import { freePort } from '@sluice/local-servers/free-port.ts';
import { drainAndCheck, eventually, expectSound, logged } from './support/index.ts';
import { startCluster, type FaultCluster } from './support/cluster.ts';
import { startLoad } from './support/load.ts';
import type { History } from './support/history.ts';

let cluster: FaultCluster | undefined;
// Started before the test: on a loaded machine the processes alone take most of a minute to come up.
// Nothing is killed or frozen here: production job locks and timeouts instead of the fault
// cluster's short ones (made to detect a kill fast), so that a flush slowed by a loaded machine
// does not let a lock lapse and BullMQ's stalled check reorder jobs, which is not what this tests.
beforeAll(async () => {
  cluster = await startCluster({ env: { SLUICE_LOCK_DURATION_MS: '', SLUICE_REDIS_TIMEOUT_MS: '', SLUICE_STATEMENT_TIMEOUT_MS: '', SLUICE_PG_CONNECT_TIMEOUT_MS: '' } });
}, 180_000);
afterAll(async () => {
  await cluster?.stop();
});

const OLD_WRITER = { SLUICE_FAILPOINTS: 'payload-read-max=1' };

/** Sum of a metric's samples (every label set) in a Prometheus text page. */
function metric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

const merge = (a: History, b: History) => {
  for (const op of b.ops) a.add(op);
  return a;
};

/**
 * Read every partition's queue head to tail (BullMQ's wait list: the head is
 * its right end) and return the keys whose upserts are not in value order
 * there, after the value `appliedTop` says was applied last (and how many
 * upserts it read).
 */
async function queuedKeyOrder(url: string, appliedTop: Map<string, number>): Promise<{ bad: string[]; checked: number }> {
  const redis = new Redis(url);
  try {
    const bad: string[] = [];
    let checked = 0;
    const last = new Map(appliedTop);
    for (const wait of await redis.keys('faults:*:wait')) {
      const base = wait.slice(0, -'wait'.length);
      const ids = (await redis.lrange(wait, 0, -1)).reverse();
      for (const id of ids) {
        const data = JSON.parse((await redis.hget(base + id, 'data')) ?? '{"reqs":[]}') as { reqs: { ops: { t: string; row?: Record<string, string | null> }[] }[] };
        for (const r of data.reqs)
          for (const op of r.ops) {
            if (op.t !== 'f_keys' || !op.row) continue;
            const k = op.row.k!;
            const v = Number(op.row.v);
            if (v !== (last.get(k) ?? 0) + 1) bad.push(`${k}: ${last.get(k) ?? 0} then ${v} (job ${id})`);
            last.set(k, v);
            checked++;
          }
      }
    }
    return { bad, checked };
  } finally {
    redis.disconnect();
  }
}

describe('mixed payload versions: a canary gateway writes v2 while the writers read v1', () => {
  it('old writers leave v2 jobs (and what is behind them) queued; upgraded writers apply every acknowledged write once, in order', async () => {
    const c = cluster!;
    const ports = [await freePort(), await freePort()];
    const writers = [await c.startWriter('writer-old-1', { ...OLD_WRITER, SLUICE_WRITER_METRICS_PORT: String(ports[0]) }), await c.startWriter('writer-old-2', { ...OLD_WRITER, SLUICE_WRITER_METRICS_PORT: String(ports[1]) })];
    const stable = await c.startGateway({ SLUICE_BUILD_ID: 'stable-1' }, 'gateway-stable');
    const canary = await c.startGateway({ SLUICE_PAYLOAD_VERSION: '2', SLUICE_BUILD_ID: 'canary-2' }, 'gateway-canary');

    // Phase 1: queued acks only (a committed ack would wait for a writer that will not come).
    const ROUNDS = 12;
    const first = await startLoad({ urls: [stable.url, canary.url], anyGateway: true, clients: 16, keysPerClient: 2, upsertShare: 0.5, ackOf: () => 'queued', opsPerClient: ROUNDS * 4 }).done();
    expect(first.count('ok')).toBe(16 * ROUNDS * 4);

    // Every partition met a v2 job: the old writers stopped there, failing nothing.
    const scrape = () => Promise.all(ports.map(async (p) => (await fetch(`http://127.0.0.1:${p}/metrics`)).text()));
    await eventually(async () => {
      const pages = await scrape();
      expect(pages.reduce((n, t) => n + metric(t, 'sluice_writer_partitions_waiting_for_newer_writer'), 0)).toBe(4);
    }, 20_000);
    const pages = await scrape();
    expect(pages.reduce((n, t) => n + metric(t, 'sluice_writer_newer_payloads_total'), 0)).toBeGreaterThanOrEqual(4);
    expect(pages.reduce((n, t) => n + metric(t, 'sluice_writer_jobs_failed_total'), 0)).toBe(0);
    expect(writers.some((w) => logged(w.output(), 'partition waiting for a newer writer: its next job has a payload version this writer does not read; left queued, with every later job of the partition (upgrade the writers)'))).toBe(true);
    expect((await c.jobCounts()).failed ?? 0).toBe(0);
    const queued = await c.backlog();
    expect(queued).toBeGreaterThan(0);
    // What the old writers applied is a prefix of each key's writes (nothing skipped ahead of a v2 job).
    const applied = (await c.pool.query<{ k: string; vs: number[] }>('SELECT k, array_agg(v ORDER BY n) AS vs FROM f_key_history GROUP BY k')).rows;
    for (const { k, vs } of applied) expect({ k, vs }).toEqual({ k, vs: vs.map((_, i) => i + 1) });

    // The old writers stop: the jobs they held go back to the queue head, their takes not counted.
    for (const w of writers) expect(await w.stop()).toBe(0);
    const redis = new Redis(c.redis.url);
    let takes: number[];
    try {
      // Job hashes: `<prefix>:{<partition>}:<jobId>`, job ids start with the partition's name.
      const keys = (await redis.keys('faults:*:main.*')).filter((k) => !k.endsWith(':lock'));
      takes = (await Promise.all(keys.map((k) => redis.hget(k, 'ats')))).map((a) => Number(a ?? 0));
    } finally {
      redis.disconnect();
    }
    // The held jobs went back in order: each key's queued values, in queue order, carry on from what was applied.
    const appliedTop = new Map(applied.map(({ k, vs }) => [k, vs.length]));
    const order = await queuedKeyOrder(c.redis.url, appliedTop);
    expect(order.checked).toBeGreaterThan(0);
    expect(order.bad, 'keys whose queued writes are out of order after the old writers stopped').toEqual([]);
    expect(takes.length).toBeGreaterThan(0);
    expect(Math.max(...takes)).toBe(0);
    expect(await c.backlog()).toBe(queued);
    // All of them back in `wait` (none left taken for the next owner's orphan hand-back).
    expect((await c.jobCounts()).active ?? 0).toBe(0);

    // Phase 2: the writers upgraded; both gateways keep writing, committed acks too.
    const newPort = await freePort();
    writers.push(await c.startWriter('writer-new-1', { SLUICE_WRITER_METRICS_PORT: String(newPort) }));
    writers.push(await c.startWriter('writer-new-2'));
    const second = await startLoad({ urls: [stable.url, canary.url], anyGateway: true, clients: 16, keysPerClient: 2, upsertShare: 0.5, opsPerClient: 24, valuesFrom: ROUNDS * 2, insertIdPrefix: 'b' }).done();
    const verdict = await drainAndCheck(c, merge(first, second));
    // An unsound verdict: what each writer did with the partitions (takes, hand-backs, moves back), and the keys' applied order.
    await Promise.resolve()
      .then(() => expectSound(verdict))
      .catch(async (err: unknown) => {
        for (const w of writers) console.error(`[${w.name}] ${w.output().split('\n').filter((l) => /"level":(40|50|60)|"msg":"[^"]*(moved back|handed|acquired|released|lost)/.test(l)).slice(-60).join('\n')}`);
        const keys = verdict.orderViolations.map((v) => v.slice(0, v.indexOf(':')));
        const rows = await c.pool.query('SELECT h.n, h.k, h.v, h.op, h.at FROM f_key_history h WHERE h.k = ANY($1) ORDER BY h.n', [keys]);
        console.error(`[history of the keys] ${JSON.stringify(rows.rows)}`);
        throw err;
      });
    expect(verdict.unknown).toBe(0);
    // The new writer read both versions, and knows the canary's jobs by its build.
    const page = await (await fetch(`http://127.0.0.1:${newPort}/metrics`)).text();
    expect(page).toMatch(/sluice_writer_jobs_read_total\{version="1",build=""\} [1-9]/);
    expect(page).toMatch(/sluice_writer_jobs_read_total\{version="2",build="canary-2"\} [1-9]/);
    expect(metric(page, 'sluice_writer_newer_payloads_total')).toBe(0);
    // The version wait handed nothing back as a stall.
    expect(await c.queueEvents('stalled')).toBe(0);
    console.info(`[mixed versions] ${JSON.stringify({ queuedWhileOld: queued, acknowledged: verdict.acknowledged, committed: verdict.committed })}`);
  }, 300_000);
});

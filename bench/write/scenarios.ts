/**
 * One HTTP write scenario: warm up, let the writer catch up, then drive the
 * measured load; the window closes once every accepted write is committed,
 * so CPU per request and per committed row count the same writes.
 */
import type pg from 'pg';
import type { CpuSample, Tracked } from '../lib/cpu.ts';
import { drive, warmUp, type Measured } from '../lib/drive.ts';
import type { LoadSpec } from '../load/generator.ts';
import type { RedisHeld, RedisMemorySampler } from './redis-memory.ts';

/** The table every write scenario fills: a `bigserial` key, ~200-byte rows. */
export const BENCH_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS bench_events (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  amount integer NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
)`;

/** A single-row JSON body of ~200 bytes, the unit of every HTTP scenario. */
export const ROW_BODY = JSON.stringify({
  kind: 'page_view',
  amount: 42,
  payload: { user: 'u_1234567', path: '/products/widgets/blue-widget-2000', ref: 'https://example.com/search?q=widgets&page=2', ua: 'Mozilla/5.0 (X11; Linux x86_64) bench' },
});

let polls = 0;

/**
 * Rows inserted so far (the sequence: O(1), where count(*) would add its own
 * Postgres CPU) and transactions committed, less our own polls (each is one).
 */
export async function progress(pool: pg.Pool): Promise<{ rows: number; commits: number }> {
  polls++;
  const { rows } = await pool.query<{ n: string; x: string }>(
    `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench_events_id_seq) AS n,
            (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS x`,
  );
  return { rows: Number(rows[0]!.n), commits: Number(rows[0]!.x) - polls };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until no row has been inserted for `quietMs` (the backlog is committed),
 * or until `target` rows when given; prints progress every 5 s. Returns the rows.
 */
export async function settleRows(pool: pg.Pool, label: string, target?: number, quietMs = 400, timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  const first = (await progress(pool)).rows;
  let last = first;
  let lastChange = t0;
  let lastPrint = { at: t0, rows: first };
  for (;;) {
    await sleep(target === undefined ? 100 : 20);
    const n = (await progress(pool)).rows;
    const now = performance.now();
    if (target !== undefined ? n >= target : n === last && now - lastChange >= quietMs) return n;
    if (n !== last) lastChange = now;
    last = n;
    if (now - lastPrint.at >= 5000) {
      const rate = ((n - lastPrint.rows) / (now - lastPrint.at)) * 1000;
      lastPrint = { at: now, rows: n };
      const of = target === undefined ? '' : ` of ${target - first}`;
      process.stderr.write(`  [${label}] ${((now - t0) / 1000).toFixed(0)} s: ${n - first}${of} rows committed, ${Math.round(rate)} rows/s\n`);
    }
    if (now - t0 > timeoutMs) throw new Error(`${label}: ${n - first} rows committed after ${timeoutMs} ms, still going`);
  }
}

/** What one write scenario measured. */
export interface WriteResult {
  key: string;
  scenario: string;
  measured: Measured;
  /** Rows committed and transactions in the window (0 for the bare baseline). */
  rows: number;
  commits: number;
  /** What Redis held while the load ran (Sluice scenarios with `--replica`). */
  redisHeld?: RedisHeld;
  /**
   * Transactions that inserted the window's rows (distinct xmin, counted after
   * the window): the writer's own, where `commits` counts every commit on the
   * database (the warmer's reads, topology polls, …).
   */
  txns: number;
  /** With `--retention ROWS`: old dedupe records laid down before the run, and left after it. */
  oldRecords?: { laid: number; left: number };
}

/** Warm up, settle, then measure `spec` against the running processes `tracked`; `sampler` samples Redis while the measured load runs. */
export async function measureWrite(key: string, scenario: string, spec: LoadSpec, tracked: Tracked[], pool?: pg.Pool, sampler?: RedisMemorySampler): Promise<WriteResult> {
  process.stderr.write(`\n${scenario}: warming up\n`);
  await warmUp(spec);
  if (pool) await settleRows(pool, scenario);
  let before = { rows: 0, commits: 0 };
  let redis: RedisHeld | undefined;
  const measured = await drive({ ...spec, name: scenario }, tracked, {
    onStart: async () => {
      if (pool) before = await progress(pool);
      await sampler?.start();
    },
    settle: async () => {
      // The load has stopped: what Redis held is read over the load, not over the drain after it.
      if (sampler) redis = await sampler.stop();
      if (pool) await settleRows(pool, `${scenario}, committing the backlog`);
    },
  });
  // Backends publish their commit counts at most once a second (pgstat): wait for them.
  if (pool) await sleep(1100);
  const after = pool ? await progress(pool) : before;
  const txns = pool ? await insertingTransactions(pool, before.rows, after.rows) : 0;
  return { key, scenario, measured, rows: after.rows - before.rows, commits: Math.max(0, after.commits - before.commits), txns, ...(redis ? { redisHeld: redis } : {}) };
}

/** Distinct transactions that inserted the rows with ids in (from, to] (a bench table with a `bigserial` id). */
async function insertingTransactions(pool: pg.Pool, from: number, to: number): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM bench_events WHERE id > $1 AND id <= $2', [from, to]);
  return Number(rows[0]!.n);
}

/** CPU per row, for a result's sample. */
export function perRow(cpu: CpuSample, rows: number, column: string): number | null {
  const us = cpu[column];
  return us === undefined || rows === 0 ? null : us / rows;
}

/**
 * Which poison isolation is cheaper for 1 bad request in 1,000 (the issue's
 * question): halving ranges under savepoints (what the writer does) or one
 * savepoint per request. In-process on one connection: the same 1,000
 * single-row inserts with one CHECK violation are isolated inside a
 * transaction that is then rolled back, `rounds` times per strategy, next to
 * the clean fast path (one statement for 1,000 good requests) as baseline.
 */
import pg from 'pg';
import { introspectCatalog, type WriteRequest } from '../lib/shared.ts';
import { applyRequests } from '@sluice/writer/flush/apply.ts';
import { bisectRequests, type Isolation } from '@sluice/writer/flush/poison.ts';
import { StatementCache } from '@sluice/writer/flush/sql.ts';
import type { Row } from '../lib/report.ts';

const N = 1000;
const BAD_AT = 637;

function requests(bad: boolean): WriteRequest[] {
  return Array.from({ length: N }, (_, i) => ({
    id: `iso.${i}`,
    ops: [{ t: 'bench_poison', op: 'insert' as const, row: { kind: 'page_view', amount: bad && i === BAD_AT ? '-1' : String(i), payload: '{}' } }],
  }));
}

/** ms per batch of each strategy, and its ratio to the clean fast path. */
export async function compareIsolation(url: string, rounds = 20): Promise<Row[]> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  try {
    const catalog = await introspectCatalog(client, ['bench_poison']);
    const cache = new StatementCache();
    const good = requests(false);
    const poisoned = requests(true);
    const time = async (fn: () => Promise<unknown>): Promise<number> => {
      const round = async () => {
        await client.query('BEGIN');
        await fn();
        await client.query('ROLLBACK');
      };
      await round(); // warm-up: statement preparation
      await round();
      const t0 = performance.now();
      for (let i = 0; i < rounds; i++) await round();
      return (performance.now() - t0) / rounds;
    };
    const clean = await time(() => applyRequests(client, catalog, cache, good));
    const rows: Row[] = [{ strategy: 'clean batch, no isolation (baseline)', 'ms per batch': clean, 'vs clean': 1, 'dead-lettered': 0 }];
    for (const isolation of ['bisect', 'each'] as Isolation[]) {
      let guilty = 0;
      const ms = await time(async () => {
        guilty = (await bisectRequests(client, catalog, cache, poisoned, undefined, isolation)).guilty.length;
      });
      rows.push({ strategy: isolation === 'bisect' ? 'bisection under savepoints (Sluice)' : 'a savepoint per request', 'ms per batch': ms, 'vs clean': ms / clean, 'dead-lettered': guilty });
    }
    return rows;
  } finally {
    client.release();
    await pool.end();
  }
}

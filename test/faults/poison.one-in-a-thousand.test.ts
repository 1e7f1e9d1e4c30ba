/**
 * RELIABILITY row 11 over the real processes: 1,000 concurrent `committed`
 * POSTs, one of which the database refuses (a CHECK violation the gateway
 * cannot know about). The writer bisects its batch, commits the 999 good
 * requests and dead-letters the bad one with its SQLSTATE; its client gets
 * 422, its status is `dead`. Over-long varchar and NUL bytes are caught
 * earlier, by the gateway's validator: 400, nothing enqueued (the writer's
 * own dead-lettering of those is in test/writer/writer.poison.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type FaultCluster, type GatewayProc } from './support/cluster.ts';

let cluster: FaultCluster;
let gateway: GatewayProc;

beforeAll(async () => {
  // Generous lingers so the 1,000 requests travel in few jobs and batches.
  cluster = await startCluster({ env: { SLUICE_ENQUEUE_LINGER_MS: '20', SLUICE_BATCH_LINGER_MS: '50', SLUICE_ENQUEUE_MAX_REQUESTS: '1000' } });
  gateway = await cluster.startGateway();
  await cluster.startWriter();
});
afterAll(async () => cluster?.stop());

const post = (row: Record<string, unknown>) =>
  fetch(`${gateway.url}/v1/tables/f_items`, { method: 'POST', headers: { 'content-type': 'application/json', 'sluice-ack': 'committed' }, body: JSON.stringify(row) });

describe('row 11: one poison request among 999 good', () => {
  it('commits the 999, dead-letters the one with its SQLSTATE, and answers its client 422', async () => {
    const BAD = 617;
    const responses = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => post({ op: `p${i}`, client: 0, amount: i === BAD ? -1 : i })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(999);
    expect(statuses[BAD]).toBe(422);
    const problem = (await responses[BAD]!.json()) as { writeId: string; sqlstate: string; constraint?: string };
    expect(problem).toMatchObject({ sqlstate: '23514', constraint: 'f_items_amount_check' });

    const { rows } = await cluster.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM f_items WHERE op LIKE 'p%'`);
    expect(rows[0]!.n).toBe(999);
    const dead = await cluster.pool.query('SELECT write_id, sqlstate, payload FROM sluice.dead_letters');
    expect(dead.rows).toHaveLength(1);
    expect(dead.rows[0]).toMatchObject({ write_id: problem.writeId, sqlstate: '23514' });
    const status = await (await fetch(`${gateway.url}/v1/writes/${problem.writeId}`)).json();
    expect(status).toMatchObject({ status: 'dead', sqlstate: '23514' });
  });

  it('refuses an over-long varchar and a NUL byte at the gateway (400), before anything is queued', async () => {
    const before = await cluster.jobCounts();
    for (const row of [{ op: 'long', client: 0, tag: 'x'.repeat(17) }, { op: 'nul', client: 0, note: 'a\u0000b' }]) {
      const res = await post(row);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    expect(await cluster.jobCounts()).toEqual(before);
  });
});

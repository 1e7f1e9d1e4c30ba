/** GET /v1/writes/{writeId}: queued (in BullMQ), committed (applied_jobs), dead (dead_letters), unknown (404). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { json, startGateway, type TestGateway } from './support.ts';

/** What the writer's completion does to a job: remove it from its partition's log. */
async function removeJob(t: TestGateway, writeId: string): Promise<void> {
  const id = parseWriteId(writeId)!;
  await t.gw.logs.get(t.topology.map.partition(id.partition)!).remove(id.jobId);
}

describe('status: GET /v1/writes/{writeId}', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function write(kind: string): Promise<{ writeId: string; jobId: string }> {
    const res = await t.post('/v1/tables/events', { kind, amount: 1 });
    const { writeId } = await json(res);
    return { writeId, jobId: parseWriteId(writeId)!.jobId };
  }

  it('queued while its job waits in the partition queue', async () => {
    const { writeId } = await write('s1');
    const res = await t.request(`/v1/writes/${writeId}`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ writeId, status: 'queued', state: 'waiting' });
  });

  it('committed with a token (current WAL insert LSN) and time once its job is in sluice.applied_jobs', async () => {
    const { writeId, jobId } = await write('s2');
    await t.env.pool.query('INSERT INTO sluice.applied_jobs (job_id, requests) VALUES ($1, 1)', [jobId]);
    await removeJob(t, writeId); // removeOnComplete
    const res = await t.request(`/v1/writes/${writeId}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ writeId, status: 'committed', token: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), committedAt: expect.any(String) });
    expect(res.headers.get('sluice-consistency-token')).toBe(body.token);
  });

  it('dead with SQLSTATE and message — even though the rest of its job committed', async () => {
    const { writeId, jobId } = await write('s3');
    await t.env.pool.query('INSERT INTO sluice.applied_jobs (job_id, requests) VALUES ($1, 1)', [jobId]);
    await t.env.pool.query(
      `INSERT INTO sluice.dead_letters (write_id, job_id, table_name, sqlstate, message, constraint_name, payload)
       VALUES ($1, $2, 'events', '23505', 'duplicate key value violates unique constraint "events_pkey"', 'events_pkey', '{}')`,
      [writeId, jobId],
    );
    const res = await t.request(`/v1/writes/${writeId}`);
    expect(await json(res)).toMatchObject({ writeId, status: 'dead', sqlstate: '23505', message: expect.stringContaining('duplicate key'), constraint: 'events_pkey' });
  });

  it('404 for ids that are not ours, not in any queue, or name a partition that does not exist', async () => {
    for (const id of ['nope', 'main.1.0.zzzz.1.0', 'main.1.99.abc.1.0', 'other.1.0.abc.1.0', 'main.7.0.abc.1.0', "main.1.0.a';--.1.0", 'main.1.1.abc.1.0.0', 'p0.zzzz.1.0']) {
      const res = await t.request(`/v1/writes/${encodeURIComponent(id)}`);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    const { writeId } = await write('s4');
    // Request index past the job's requests (owner tag dropped: auth is off, so it is not checked).
    const p = parseWriteId(writeId)!;
    const beyond = `${p.jobId}.z`;
    expect((await t.request(`/v1/writes/${beyond}`)).status).toBe(404);
  });
});

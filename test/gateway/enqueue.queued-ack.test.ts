import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { partOf } from '../harness/partitions.ts';
import { json, startGateway, type TestGateway } from './support.ts';

describe('enqueue: queued ack (202) puts the right job in the right partition', () => {
  let t: TestGateway;
  beforeAll(async () => {
    // A linger well above scheduling noise, so the coalescing assertion holds on a busy machine.
    t = await startGateway({ env: { SLUICE_ENQUEUE_LINGER_MS: '25' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('POST one row → 202 {writeId}, the job holds Postgres text values', async () => {
    const res = await t.post('/v1/tables/events', { kind: 'view', amount: 42, payload: { a: 1 } });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toMatch(new RegExp(`^${t.nodeId}-`));
    const { writeId } = await json(res);
    const id = parseWriteId(writeId)!;
    expect(id).not.toBeNull();
    const job = (await t.jobs()).find((j) => j.id === id.jobId)!;
    expect(job.partition).toBe(id.partition);
    expect(job.state).toBe('waiting');
    expect(job.data.v).toBe(1);
    expect(job.data.reqs[id.index]).toEqual({ id: writeId, ops: [{ t: 'events', op: 'insert', row: { kind: 'view', amount: '42', payload: '{"a":1}' } }] });
  });

  it('routes by key: an upsert and a PATCH of one key land in the partition of (table, key)', async () => {
    const up = await t.post('/v1/tables/pairs', { tenant: 'acme', seq: 7, v: 'x' }, { prefer: 'resolution=merge-duplicates' });
    expect(up.status).toBe(202);
    expect(up.headers.get('preference-applied')).toBe('resolution=merge-duplicates');
    const patch = await t.request('/v1/tables/pairs/acme,007', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"v":"y"}' });
    expect(patch.status).toBe(202);
    const expected = partOf('pairs', ['acme', '7'], 4).name;
    const a = parseWriteId((await json(up)).writeId)!;
    const b = parseWriteId((await json(patch)).writeId)!;
    expect([a.partition, b.partition]).toEqual([expected, expected]);
    const jobs = await t.jobs();
    expect(jobs.find((j) => j.id === a.jobId)!.data.reqs[a.index]!.ops).toEqual([{ t: 'pairs', op: 'upsert', row: { tenant: 'acme', seq: '7', v: 'x' } }]);
    expect(jobs.find((j) => j.id === b.jobId)!.data.reqs[b.index]!.ops).toEqual([{ t: 'pairs', op: 'update', key: ['acme', '7'], row: { v: 'y' } }]);
  });

  it('DELETE with a percent-encoded comma inside a composite key value', async () => {
    const res = await t.request('/v1/tables/pairs/a%2Cb,1', { method: 'DELETE' });
    expect(res.status).toBe(202);
    const id = parseWriteId((await json(res)).writeId)!;
    expect(id.partition).toBe(partOf('pairs', ['a,b', '1'], 4).name);
    const job = (await t.jobs()).find((j) => j.id === id.jobId)!;
    expect(job.data.reqs[id.index]!.ops).toEqual([{ t: 'pairs', op: 'delete', key: ['a,b', '1'] }]);
  });

  it('an array of rows is one request (atomic), never split across jobs', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ kind: 'bulk', amount: i }));
    const res = await t.post('/v1/tables/events', rows);
    expect(res.status).toBe(202);
    const id = parseWriteId((await json(res)).writeId)!;
    const job = (await t.jobs()).find((j) => j.id === id.jobId)!;
    expect(job.data.reqs[id.index]!.ops).toHaveLength(50);
  });

  it('POST /v1/batch: ops of several tables in one request, routed by the first op with a key', async () => {
    const res = await t.post('/v1/batch', {
      ops: [
        { table: 'events', op: 'insert', row: { kind: 'b', amount: 1 } },
        { table: 'pairs', op: 'update', key: ['t', 2], row: { v: 'w' } },
        { table: 'pairs', op: 'update', row: { tenant: 't', seq: 3, v: 'k' } },
        { table: 'secrets', op: 'delete', key: { id: 9 } },
        { table: 'secrets', op: 'upsert', row: { id: 10, s: 'z' } },
      ],
    });
    expect(res.status).toBe(202);
    const id = parseWriteId((await json(res)).writeId)!;
    expect(id.partition).toBe(partOf('pairs', ['t', '2'], 4).name);
    const job = (await t.jobs()).find((j) => j.id === id.jobId)!;
    expect(job.data.reqs[id.index]!.ops).toEqual([
      { t: 'events', op: 'insert', row: { kind: 'b', amount: '1' } },
      { t: 'pairs', op: 'update', key: ['t', '2'], row: { v: 'w' } },
      { t: 'pairs', op: 'update', key: ['t', '3'], row: { v: 'k' } },
      { t: 'secrets', op: 'delete', key: ['9'] },
      { t: 'secrets', op: 'upsert', row: { id: '10', s: 'z' } },
    ]);
  });

  it('coalesces concurrent requests: far fewer jobs than requests, each writeId names its slot', async () => {
    const before = (await t.jobs()).length;
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => t.post('/v1/tables/events', { kind: 'c', amount: i })));
    expect(responses.every((r) => r.status === 202)).toBe(true);
    const ids = await Promise.all(responses.map(async (r) => (await json(r)).writeId as string));
    expect(new Set(ids).size).toBe(200);
    const jobs = await t.jobs();
    expect(jobs.length - before).toBeLessThan(25);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    for (const w of ids) {
      const p = parseWriteId(w)!;
      expect(byId.get(p.jobId)!.data.reqs[p.index]!.id).toBe(w);
    }
  });
});

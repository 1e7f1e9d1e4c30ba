/**
 * `Sluice-Ack: committed`: the test plays the writer — it finds the request in
 * BullMQ and publishes a `WriteOutcome` on the gateway's ack channel by hand.
 */
import { publishTo } from '@sluice/shared/redis/pubsub.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ackChannel, type WriteOutcome, type WriteRequest } from '@sluice/shared/queue/contract.ts';
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { eventually } from '../harness/index.ts';
import { json, startGateway, type TestGateway } from './support.ts';

describe('acks: committed mode', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_COMMIT_WAIT_MS: '1500' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The next queued request matching `pred` (as the writer would receive it). */
  async function queuedRequest(pred: (r: WriteRequest) => boolean): Promise<WriteRequest> {
    return eventually(async () => {
      const reqs = (await t.jobs()).flatMap((j) => j.data.reqs);
      const r = reqs.find(pred);
      if (!r) throw new Error('request not queued yet');
      return r;
    }, 5000);
  }

  async function publish(outcomes: WriteOutcome[]): Promise<void> {
    await publishTo(t.env.redis, ackChannel(t.config.SLUICE_QUEUE_PREFIX, t.nodeId), JSON.stringify(outcomes));
  }

  const committedHeaders = { 'content-type': 'application/json', 'sluice-ack': 'committed' };

  it('POST → 201 with keys, affected rows, token and Sluice-Consistency-Token once the outcome arrives', async () => {
    const pending = t.post('/v1/tables/events', { kind: 'commit-1', amount: 1 }, { 'sluice-ack': 'committed' });
    const req = await queuedRequest((r) => r.ops[0]?.row?.kind === 'commit-1');
    expect(req.ack).toBe(t.nodeId);
    expect(req.ret).toBe(true);
    await publish([{ id: req.id, s: 'committed', lsn: '0/16B3748', at: '2026-01-01T00:00:00.000Z', n: [1], keys: [{ id: '41' }] }]);
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.headers.get('sluice-consistency-token')).toBe('0/16B3748');
    expect(await json(res)).toEqual({ writeId: req.id, status: 'committed', keys: [{ id: '41' }], affected: [1], token: '0/16B3748', committedAt: '2026-01-01T00:00:00.000Z' });
  });

  it('PATCH, DELETE and batch answer 200; outcomes of several requests may come in one message', async () => {
    const patch = t.request('/v1/tables/pairs/a,1', { method: 'PATCH', headers: committedHeaders, body: '{"v":"p"}' });
    const del = t.request('/v1/tables/pairs/a,2', { method: 'DELETE', headers: { 'sluice-ack': 'committed' } });
    const batch = t.post('/v1/batch', { ops: [{ table: 'secrets', op: 'delete', key: 77 }] }, { 'sluice-ack': 'committed' });
    const reqs = await Promise.all([
      queuedRequest((r) => r.ops[0]?.op === 'update' && r.ops[0].key?.[1] === '1'),
      queuedRequest((r) => r.ops[0]?.op === 'delete' && r.ops[0].key?.[1] === '2'),
      queuedRequest((r) => r.ops[0]?.t === 'secrets' && r.ops[0].key?.[0] === '77'),
    ]);
    expect(reqs.map((r) => r.ret)).toEqual([undefined, undefined, undefined]);
    await publish(reqs.map((r) => ({ id: r.id, s: 'committed', lsn: '0/1', at: '2026-01-01T00:00:00.000Z', n: [1] })));
    for (const res of await Promise.all([patch, del, batch])) {
      expect(res.status).toBe(200);
      expect(res.headers.get('sluice-consistency-token')).toBe('0/1');
    }
  });

  it('dead-lettered → 422 problem with the writeId, SQLSTATE and message', async () => {
    const pending = t.post('/v1/tables/events', { kind: 'poison', amount: 1 }, { 'sluice-ack': 'committed' });
    const req = await queuedRequest((r) => r.ops[0]?.row?.kind === 'poison');
    await publish([{ id: req.id, s: 'dead', sqlstate: '23514', message: 'new row violates check constraint "positive"', constraint: 'positive' }]);
    const res = await pending;
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await json(res)).toMatchObject({ status: 422, writeId: req.id, sqlstate: '23514', constraint: 'positive', detail: expect.stringContaining('check constraint') });
  });

  it('duplicate (Idempotency-Key applied before) → answered as the original write, Idempotent-Replayed', async () => {
    const pending = t.post('/v1/tables/events', { kind: 'dup', amount: 1 }, { 'sluice-ack': 'committed', 'idempotency-key': 'dup-1' });
    const req = await queuedRequest((r) => r.ops[0]?.row?.kind === 'dup');
    expect(req.idem).toMatchObject({ scope: 'anonymous', key: 'dup-1', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    await publish([{ id: req.id, s: 'duplicate', of: 'p1.original.1.0', lsn: '0/2', at: '2026-01-01T00:00:00.000Z' }]);
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await json(res)).toMatchObject({ writeId: 'p1.original.1.0', status: 'committed', token: '0/2' });
  });

  it('504 with the writeId when no outcome comes within SLUICE_COMMIT_WAIT_MS; the write stays queued', async () => {
    const started = Date.now();
    const res = await t.post('/v1/tables/events', { kind: 'slow', amount: 1 }, { 'sluice-ack': 'committed' });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    const body = await json(res);
    expect(body).toMatchObject({ status: 504, writeId: expect.any(String) });
    expect(parseWriteId(body.writeId)).not.toBeNull();
    const status = await t.request(`/v1/writes/${body.writeId}`);
    expect(await json(status)).toMatchObject({ status: 'queued' });
  });

  it('ignores junk and outcomes of unknown writes on the channel', async () => {
    await publishTo(t.env.redis, ackChannel(t.config.SLUICE_QUEUE_PREFIX, t.nodeId), 'not json');
    await publish([{ id: 'p0.nobody.1.0', s: 'committed', lsn: '0/3', at: '2026-01-01T00:00:00.000Z', n: [1] }]);
    expect((await t.request('/healthz')).status).toBe(200);
  });
});

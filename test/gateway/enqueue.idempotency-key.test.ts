/** RELIABILITY rows 13 and 14: Idempotency-Key replay, mismatch, in-flight, and the Postgres authority. */
import { parseWriteId } from '@sluice/shared/queue/ids.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestHash } from '@sluice/gateway/enqueue/idempotency.ts';
import { json, startGateway, type TestGateway } from './support.ts';

describe('enqueue: Idempotency-Key', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_COMMIT_WAIT_MS: '2000' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const redisKey = (key: string) => `${t.config.SLUICE_QUEUE_PREFIX}:idem:anonymous:${key}`;
  const requestsFor = async (key: string) => (await t.jobs()).flatMap((j) => j.data.reqs).filter((r) => r.idem?.key === key);

  it('same key, same body (any key order or spacing) → the stored writeId replayed, one request queued', async () => {
    const first = await t.post('/v1/tables/events', { kind: 'k1', amount: 5 }, { 'idempotency-key': 'same-1' });
    expect(first.status).toBe(202);
    const { writeId } = await json(first);
    const again = await t.post('/v1/tables/events', '{ "amount": 5,   "kind": "k1" }', { 'idempotency-key': '"same-1"' });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(again)).writeId).toBe(writeId);
    expect(await requestsFor('same-1')).toHaveLength(1);
    expect(await t.env.redis.get(redisKey('same-1'))).toMatch(new RegExp(`^done:[0-9a-f]{64}:${writeId.replace(/\./g, '\\.')}$`));
  });

  it('same key, different body, path or operation → 422, nothing more queued', async () => {
    await t.post('/v1/tables/events', { kind: 'k2', amount: 1 }, { 'idempotency-key': 'same-2' });
    const other = await t.post('/v1/tables/events', { kind: 'k2', amount: 2 }, { 'idempotency-key': 'same-2' });
    expect(other.status).toBe(422);
    expect(await json(other)).toMatchObject({ type: expect.stringContaining('idempotency-key-mismatch') });
    expect((await t.post('/v1/tables/secrets', { id: 1 }, { 'idempotency-key': 'same-2' })).status).toBe(422);
    expect(await requestsFor('same-2')).toHaveLength(1);
    // Same path and body, but an upsert instead of an insert: another request.
    const row = { id: 5, kind: 'k2', amount: 1 };
    expect((await t.post('/v1/tables/events', row, { 'idempotency-key': 'same-2b' })).status).toBe(202);
    expect((await t.post('/v1/tables/events', row, { 'idempotency-key': 'same-2b', prefer: 'resolution=merge-duplicates' })).status).toBe(422);
  });

  it('same key while the first request is still in flight → 409 with Retry-After', async () => {
    const body = { kind: 'k3', amount: 1 };
    await t.env.redis.set(redisKey('same-3'), `pending:${requestHash('POST', '/v1/tables/events', 'insert', body)}`, 'PX', 10_000);
    const res = await t.post('/v1/tables/events', body, { 'idempotency-key': 'same-3' });
    expect(res.status).toBe(409);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await t.post('/v1/tables/events', { ...body, amount: 2 }, { 'idempotency-key': 'same-3' })).status).toBe(422);
  });

  it('Postgres is the authority when Redis has no record: replay or 422 from sluice.idempotency_keys', async () => {
    const body = { kind: 'k4', amount: 1 };
    const hash = requestHash('POST', '/v1/tables/events', 'insert', body);
    await t.env.pool.query('INSERT INTO sluice.idempotency_keys (scope, key, request_hash, write_id) VALUES ($1, $2, $3, $4)', ['anonymous', 'from-pg', hash, 'p2.older.5.0']);
    const res = await t.post('/v1/tables/events', body, { 'idempotency-key': 'from-pg' });
    expect(res.status).toBe(202);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect((await json(res)).writeId).toBe('p2.older.5.0');
    expect((await t.post('/v1/tables/events', { ...body, amount: 9 }, { 'idempotency-key': 'from-pg' })).status).toBe(422);
    expect(await requestsFor('from-pg')).toHaveLength(0);
  });

  it('committed mode replays the original outcome once it is known', async () => {
    const body = { kind: 'k5', amount: 1 };
    const first = await t.post('/v1/tables/events', body, { 'idempotency-key': 'same-5' });
    const { writeId } = await json(first);
    const jobId = parseWriteId(writeId)!.jobId;
    const replay = t.post('/v1/tables/events', body, { 'idempotency-key': 'same-5', 'sluice-ack': 'committed' });
    // Play the writer: the job commits.
    await t.env.pool.query('INSERT INTO sluice.applied_jobs (job_id, requests) VALUES ($1, 1)', [jobId]);
    const res = await replay;
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(res.headers.get('sluice-consistency-token')).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await json(res)).toMatchObject({ writeId, status: 'committed' });
  });

  it('the key is scoped: same key on DELETE of another row is a mismatch, not a replay', async () => {
    expect((await t.request('/v1/tables/pairs/a,1', { method: 'DELETE', headers: { 'idempotency-key': 'del-1' } })).status).toBe(202);
    const replay = await t.request('/v1/tables/pairs/a,1', { method: 'DELETE', headers: { 'idempotency-key': 'del-1' } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await t.request('/v1/tables/pairs/a,2', { method: 'DELETE', headers: { 'idempotency-key': 'del-1' } })).status).toBe(422);
  });
});

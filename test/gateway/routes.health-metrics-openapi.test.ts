/** GET /healthz, /readyz, /metrics and /openapi.json. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startGateway, type TestGateway } from './support.ts';

const ADMIN = 'admin-key-of-the-operators-0123456789abcdef';
const asAdmin = { headers: { authorization: `Bearer ${ADMIN}` } };

describe('routes: health, readiness, metrics, OpenAPI', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ env: { SLUICE_API_KEYS: JSON.stringify([{ key: 'secret-key-123-0123456789abcdef0123456789', scopes: ['write:*'] }, { key: ADMIN, scopes: ['admin'] }]) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('/healthz answers while the process lives', async () => {
    const res = await t.request('/healthz');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'ok', node: t.nodeId });
  });

  it('/readyz checks Redis, Postgres and the backlog and shows knobs but no secrets', async () => {
    const res = await t.request('/readyz', asAdmin);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ status: 'ready', checks: { redis: 'ok', postgres: 'ok', backlog: 'ok' } });
    expect(body.knobs).toMatchObject({ SLUICE_PARTITIONS: 4, SLUICE_MAX_QUEUE_DEPTH: expect.any(Number), SLUICE_AUTH: 'on (2 keys)' });
    const text = JSON.stringify(body);
    for (const secret of ['secret-key-123-0123456789abcdef0123456789', ADMIN, 'DATABASE_URL', 'REDIS_URL', 'SLUICE_API_KEYS']) expect(text).not.toContain(secret);
  });

  it('/metrics: requests by route and status, enqueue counters, gauges and every numeric knob', async () => {
    await t.post('/v1/tables/events', { kind: 'm', amount: 1 }, { authorization: 'Bearer secret-key-123-0123456789abcdef0123456789' });
    await t.post('/v1/tables/events', { kind: 'm' }, { authorization: 'Bearer secret-key-123-0123456789abcdef0123456789' });
    await t.request('/nowhere');
    const res = await t.request('/metrics', asAdmin);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/sluice_http_requests_total\{route="\/v1\/tables\/:table",method="POST",status="202"\} 1/);
    expect(text).toMatch(/sluice_http_requests_total\{route="\/v1\/tables\/:table",method="POST",status="400"\} 1/);
    expect(text).toMatch(/sluice_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
    expect(text).toMatch(/sluice_jobs_enqueued_total 1/);
    expect(text).toMatch(/sluice_requests_enqueued_total 1/);
    expect(text).toMatch(/sluice_enqueue_duration_seconds_count 1/);
    for (const g of ['sluice_queue_backlog_jobs', 'sluice_pending_requests', 'sluice_commit_waiters']) expect(text).toContain(`# TYPE ${g} gauge`);
    for (const [knob, v] of Object.entries(t.config)) if (typeof v === 'number') expect(text).toContain(`sluice_config{knob="${knob}"} ${v}`);
  });

  it('/openapi.json describes every route, the headers, problem+json errors and the exposed tables', async () => {
    const res = await t.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = await json(res);
    expect(doc.openapi).toBe('3.1.0');
    for (const t of ['events', 'pairs', 'secrets']) expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([`/v1/tables/${t}`, `/v1/tables/${t}/{key}`, `/v1/tables/${t}/get`]));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/batch', '/v1/writes/{writeId}', '/healthz', '/livez', '/readyz', '/metrics', '/openapi.json']));
    const post = doc.paths['/v1/tables/events'].post;
    expect(post.requestBody.content['application/json'].schema.oneOf[0]).toEqual({ $ref: '#/components/schemas/Insert_events' });
    const text = JSON.stringify(doc);
    for (const h of ['Sluice-Ack', 'Idempotency-Key', 'Prefer', 'Sluice-Consistency-Token', 'Retry-After', 'Idempotent-Replayed', 'Preference-Applied', 'X-Request-Id', 'Sluice-Source', 'Cache-Status', 'Link', 'Content-Range', 'application/problem+json']) expect(text).toContain(h);
    expect(doc.components.schemas.Insert_events.required).toEqual(['kind', 'amount']);
    expect(doc.components.schemas.Insert_events.properties.kind.maxLength).toBe(20);
    expect(doc.components.schemas.Row_events.required).toEqual(['id', 'kind', 'amount', 'payload', 'created_at']);
  });
});

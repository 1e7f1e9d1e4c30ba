import type { Schema } from '@sluice/shared/catalog/json-schema.ts';
import { header, param, problem, problems, ref } from './components.ts';

/**
 * The paths that are not per table: `/v1/batch`, `/v1/writes/{writeId}`, the
 * health checks, `/metrics` and this document.
 */

const json = (schema: Schema) => ({ 'application/json': { schema } });
const rid = { 'X-Request-Id': header('RequestId') };

/** The schema of a `/v1/batch` body: ops on the exposed tables. */
export function batchSchema(tables: readonly string[]): Schema {
  const table = tables.length > 0 ? { type: 'string', enum: tables } : { type: 'string' };
  return {
    type: 'object',
    required: ['ops'],
    additionalProperties: false,
    properties: {
      ops: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['table', 'op'],
          additionalProperties: false,
          description: 'insert/upsert: `row`; update: `key` (or the key columns in `row`) and `row`; delete: `key`. Rows as the table\'s Insert_/Update_ schemas',
          properties: {
            table,
            op: { type: 'string', enum: ['insert', 'upsert', 'update', 'delete'] },
            row: { type: 'object', additionalProperties: true },
            key: { description: 'A value (one-column keys), `[v1, v2]` in key order, or `{column: value}`' },
          },
        },
      },
    },
  };
}

function health(operationId: string, summary: string, ok: Schema, fail?: string): Schema {
  return {
    get: {
      operationId,
      summary,
      tags: ['health'],
      security: [],
      responses: { '200': { description: 'OK', headers: rid, content: json(ok) }, ...(fail ? { '503': { ...problem('503'), description: fail } as Schema } : {}) },
    },
  };
}

/** The non-table paths. */
export function operationPaths(): Record<string, Schema> {
  const status = (s: string) => ({ type: 'object', required: ['status', 'node'], properties: { status: { const: s }, node: { type: 'string' } } });
  const committed = { description: 'Committed (Sluice-Ack: committed)', headers: { ...rid, 'Sluice-Consistency-Token': header('ConsistencyToken'), 'Idempotent-Replayed': header('IdempotentReplayed') }, content: json(ref('schemas/Committed')) };
  const queued = { description: 'Queued', headers: { ...rid, 'Idempotent-Replayed': header('IdempotentReplayed') }, content: json(ref('schemas/Queued')) };
  return {
    '/v1/batch': {
      post: {
        operationId: 'batch',
        summary: 'Several operations over several tables, applied atomically',
        tags: ['writes'],
        parameters: [param('SluiceAck'), param('IdempotencyKey')],
        requestBody: { required: true, content: json(ref('schemas/Batch')) },
        responses: { '202': queued, '200': committed, ...problems('400', '401', '403', '409', '413', '415', '422', '500', '503', '504') },
      },
    },
    '/v1/writes/{writeId}': {
      get: {
        operationId: 'get_write_status',
        summary: 'Status of a write: queued, committed (token, time) or dead (SQLSTATE, message)',
        tags: ['writes'],
        parameters: [{ name: 'writeId', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The status', headers: { ...rid, 'Sluice-Consistency-Token': header('ConsistencyToken') }, content: json(ref('schemas/WriteStatus')) },
          ...problems('401', '403', '404', '500', '503'),
        },
      },
    },
    '/healthz': health('healthz', 'The process answers', status('ok')),
    '/livez': health('livez', 'Load balancer check: this node can accept writes (its Redis connection is up, it is not draining); never judges Postgres or the backlog', status('live'), 'Draining or Redis unreachable'),
    '/readyz': health(
      'readyz',
      'Deep check for humans: Redis and Postgres answer and the backlog is under the limit; 503 while draining. The checks, details and non-secret knobs only with an admin key (Authorization optional here)',
      { type: 'object', required: ['status', 'node', 'checkedAt'], properties: { status: { const: 'ready' }, node: { type: 'string' }, ready: { type: 'boolean' }, checks: { type: 'object', additionalProperties: { type: 'string' } }, details: { type: 'object', additionalProperties: true }, checkedAt: { type: 'string', format: 'date-time' }, knobs: { type: 'object', additionalProperties: true } } },
      'Not ready or draining; the problem lists the checks',
    ),
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (admin scope when auth is on)',
        tags: ['health'],
        responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problems('401', '403') },
      },
    },
    '/openapi.json': {
      get: { operationId: 'openapi', summary: 'This document (OpenAPI 3.1)', tags: ['health'], security: [], responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object', additionalProperties: true }) } } },
    },
  };
}

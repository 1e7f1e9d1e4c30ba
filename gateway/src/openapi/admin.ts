import type { Schema } from '@sluice/shared/catalog/json-schema.ts';
import { header, param, problems, ref } from './components.ts';

/** The `/v1/admin/*` paths (scope `admin`) and their schemas. */

const json = (schema: Schema) => ({ 'application/json': { schema } });
const rid = { 'X-Request-Id': header('RequestId') };
const AUTH = problems('401', '403', '500');
const ok = (description: string, schema: Schema) => ({ description, headers: rid, content: json(schema) });
const id = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const p = { name: 'p', in: 'path', required: true, schema: { type: 'string' }, description: 'A partition `<shard>.<epoch>.<index>` (`main.1.3`), or a bare index into the current epoch' };
const query = (name: string, schema: Schema, description: string) => ({ name, in: 'query', required: false, schema, description });
const nullable = (schema: Schema) => ({ anyOf: [schema, { type: 'null' }] });
const time = { type: 'string', format: 'date-time' };

/** Schemas of the admin bodies. */
export function adminSchemas(): Record<string, Schema> {
  const str = { type: 'string' };
  return {
    DeadLetter: {
      type: 'object',
      required: ['id', 'writeId', 'jobId', 'table', 'sqlstate', 'message', 'attempts', 'createdAt'],
      properties: {
        id: { type: 'integer' }, writeId: str, jobId: str, table: nullable(str), sqlstate: str, message: str,
        constraint: nullable(str), column: nullable(str), detail: nullable(str), attempts: { type: 'integer' },
        createdAt: time, replayedAt: nullable(time), replayWriteId: nullable(str), discardedAt: nullable(time),
        payload: { description: 'The stored request (one dead letter only)' },
      },
    },
    DeadLetterPage: { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: ref('schemas/DeadLetter') }, next: nullable({ type: 'integer' }) } },
    Partitions: {
      type: 'object',
      required: ['partitions', 'writers', 'lease', 'layout'],
      properties: {
        partitions: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              partition: str, shard: str, epoch: { type: 'integer' }, consumable: { type: 'boolean' }, owner: nullable(str), token: nullable({ type: 'integer' }),
              leaseExpiresAt: nullable(time), fencedToken: nullable({ type: 'integer' }), paused: { type: 'boolean' },
              jobs: { type: 'object', additionalProperties: { type: 'integer' } }, backlog: { type: 'integer' },
            },
          },
        },
        writers: { type: 'array', items: { type: 'object', properties: { id: str, heartbeatExpiresAt: time, partitions: { type: 'array', items: str } } } },
        lease: { type: 'object', properties: { ttlMs: { type: 'integer' }, renewMs: { type: 'integer' }, takeoverBoundMs: { type: 'integer' } } },
        layout: { type: 'object', properties: { version: { type: 'integer' }, shards: {} } },
      },
    },
  };
}

function partitionAction(action: 'pause' | 'resume', one: boolean): Schema {
  return {
    post: {
      operationId: `${action}_${one ? 'partition' : 'partitions'}`,
      summary: `${action === 'pause' ? 'Pause' : 'Resume'} ${one ? 'one partition queue' : 'every partition queue'}${action === 'pause' ? ' (writers stop taking jobs; writes still queue)' : ''}`,
      tags: ['admin'],
      ...(one ? { parameters: [p] } : {}),
      responses: { '200': ok('The partitions acted on', ref('schemas/Partitions')), ...problems(...(one ? ['404'] : []), '503'), ...AUTH },
    },
  };
}

/** The admin paths. */
export function adminPaths(): Record<string, Schema> {
  const replayed = { ...rid, 'Idempotent-Replayed': header('IdempotentReplayed') };
  const replay = { type: 'object', required: ['writeId', 'deadLetter'], properties: { writeId: { type: 'string' }, deadLetter: ref('schemas/DeadLetter') } };
  return {
    '/v1/admin/dead-letters': {
      get: {
        operationId: 'list_dead_letters',
        summary: 'Dead letters, newest first, keyset-paginated',
        tags: ['admin'],
        parameters: [
          query('table', { type: 'string' }, 'API table name'),
          query('sqlstate', { type: 'string', pattern: '^[0-9A-Z]{2}([0-9A-Z]{3})?$' }, 'A SQLSTATE or its two-character class'),
          query('since', time, 'Created at or after'),
          query('until', time, 'Created before'),
          query('state', { type: 'string', enum: ['pending', 'replayed', 'discarded', 'all'], default: 'pending' }, 'Which dead letters'),
          query('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'Page size'),
          query('after', { type: 'integer' }, 'Cursor: the `next` of the previous page'),
        ],
        responses: { '200': ok('A page; `next` is null on the last', ref('schemas/DeadLetterPage')), ...problems('400', '503'), ...AUTH },
      },
    },
    '/v1/admin/dead-letters/{id}': {
      parameters: [id],
      get: { operationId: 'get_dead_letter', summary: 'One dead letter with its stored request', tags: ['admin'], responses: { '200': ok('The dead letter and its `payload`', ref('schemas/DeadLetter')), ...problems('404', '503'), ...AUTH } },
      delete: { operationId: 'discard_dead_letter', summary: 'Discard (kept as discarded; the write stays `dead`)', tags: ['admin'], responses: { '204': { description: 'Discarded', headers: rid }, ...problems('404', '503'), ...AUTH } },
    },
    '/v1/admin/dead-letters/{id}/replay': {
      post: {
        operationId: 'replay_dead_letter',
        summary: 'Enqueue the stored request again as a new write; idempotent (Idempotency-Key `replay:{id}`)',
        tags: ['admin'],
        parameters: [id, param('SluiceAck')],
        responses: {
          '202': { description: 'Queued; `Idempotent-Replayed: true` on a repeat', headers: replayed, content: json(replay) },
          '200': { description: 'Committed (Sluice-Ack: committed)', headers: { ...replayed, 'Sluice-Consistency-Token': header('ConsistencyToken') }, content: json({ allOf: [ref('schemas/Committed'), replay] }) },
          ...problems('404', '409', '422', '503', '504'),
          ...AUTH,
        },
      },
    },
    '/v1/admin/partitions': { get: { operationId: 'list_partitions', summary: 'Who owns which partition, fencing tokens, backlog; live writers; the layout', tags: ['admin'], responses: { '200': ok('Partitions and writers', ref('schemas/Partitions')), ...problems('503'), ...AUTH } } },
    '/v1/admin/partitions/pause': partitionAction('pause', false),
    '/v1/admin/partitions/resume': partitionAction('resume', false),
    '/v1/admin/partitions/{p}/pause': partitionAction('pause', true),
    '/v1/admin/partitions/{p}/resume': partitionAction('resume', true),
  };
}

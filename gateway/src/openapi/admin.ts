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
              writes: { type: 'integer', description: 'Writes (requests) in the backlog' }, bytes: { type: 'integer', description: 'Payload bytes in the backlog' },
              oldestJobAgeMs: nullable({ type: 'integer', description: 'Age of the oldest job in the log (null: empty)' }),
            },
          },
        },
        writers: { type: 'array', items: { type: 'object', properties: { id: str, heartbeatExpiresAt: time, partitions: { type: 'array', items: str } } } },
        lease: { type: 'object', properties: { ttlMs: { type: 'integer' }, renewMs: { type: 'integer' }, takeoverBoundMs: { type: 'integer' } } },
        layout: { type: 'object', properties: { version: { type: 'integer' }, shards: {} } },
      },
    },
    ShardMove: {
      type: 'object',
      required: ['id', 'from', 'to', 'source', 'shard', 'state'],
      properties: {
        id: { type: 'integer' }, from: nullable({ type: 'integer' }), to: nullable({ type: 'integer' }), source: str, shard: str,
        state: { type: 'string', enum: ['pending', 'copying', 'catching-up', 'cutover', 'cleanup', 'done', 'failed', 'cancelling', 'cancelled'] },
        step: nullable(str), rowsCopied: { type: 'integer' }, rowsLogged: { type: 'integer' }, rowsDeleted: { type: 'integer' },
        pauseMs: nullable({ type: 'integer' }), verify: { description: 'Row count and hash per table on both sides, compared at the cutover' }, error: nullable(str),
        createdAt: time, updatedAt: time, finishedAt: nullable(time),
      },
    },
    ShardMoveRequest: {
      type: 'object',
      required: ['shard'],
      additionalProperties: false,
      properties: {
        from: nullable({ type: 'integer', description: 'Lowest shard-key value moved (null: unbounded)' }),
        to: nullable({ type: 'integer', description: 'Moved keys are below this (null: unbounded)' }),
        shard: { type: 'string', description: 'The target shard' },
      },
    },
    Shards: {
      type: 'object',
      required: ['version', 'shardKeys', 'ranges', 'moves', 'shards'],
      properties: {
        version: { type: 'integer' },
        shardKeys: { type: 'object', additionalProperties: str },
        ranges: { type: 'array', items: { type: 'object', required: ['shard'], properties: { upTo: { type: 'integer' }, shard: str } } },
        moves: { type: 'array', items: { type: 'object' } },
        shards: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              name: str, primary: { type: 'object', properties: { ok: { type: 'boolean' }, standby: { type: 'boolean' }, lsn: nullable(str), pingMs: { type: 'integer' }, error: str } },
              replicas: { type: 'array', items: { type: 'object', properties: { name: str, state: str, lagMs: { type: 'number' }, reason: str } } },
              partitions: { type: 'integer' }, backlog: nullable({ type: 'integer' }),
            },
          },
        },
        activeMove: nullable(ref('schemas/ShardMove')),
      },
    },
  };
}

/** The shard admin paths. */
function shardPaths(): Record<string, Schema> {
  const move = ref('schemas/ShardMove');
  return {
    '/v1/admin/shards': { get: { operationId: 'list_shards', summary: 'Shards (primary health, replicas, backlog), the key ranges and the map version', tags: ['admin'], responses: { '200': ok('Shards and the map', ref('schemas/Shards')), ...AUTH } } },
    '/v1/admin/shards/moves': {
      get: { operationId: 'list_shard_moves', summary: 'Moves of key ranges, newest first', tags: ['admin'], responses: { '200': ok('Moves', { type: 'object', properties: { moves: { type: 'array', items: move } } }), ...AUTH } },
      post: {
        operationId: 'create_shard_move',
        summary: 'Move keys [from, to) of every sharded table to another shard, online (writes keep flowing)',
        tags: ['admin'],
        requestBody: { required: true, content: json(ref('schemas/ShardMoveRequest')) },
        responses: { '202': { description: 'Created; the writers drive it', headers: { ...rid, Location: { schema: { type: 'string' } } }, content: json(move) }, ...problems('400', '409', '413', '415'), ...AUTH },
      },
    },
    '/v1/admin/shards/moves/{id}': {
      get: { operationId: 'get_shard_move', summary: 'One move and where it stands', tags: ['admin'], parameters: [id], responses: { '200': ok('The move', move), ...problems('404'), ...AUTH } },
      delete: { operationId: 'cancel_shard_move', summary: 'Cancel a move that has not started its cutover (the mover undoes it)', tags: ['admin'], parameters: [id], responses: { '202': ok('Cancelling', move), ...problems('404', '409'), ...AUTH } },
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
    '/v1/admin/status': {
      get: {
        operationId: 'admin_status',
        summary: 'The operator view (pnpm sluice status): partitions with owners, backlog in jobs, writes and bytes with the oldest job\'s age; writers; replicas and lag; dead letters; this gateway\'s write and read rates',
        tags: ['admin'],
        responses: {
          '200': ok('Status', {
            type: 'object',
            required: ['at', 'backlog', 'partitions', 'writers', 'deadLetters', 'rates'],
            properties: {
              at: time,
              backlog: { type: 'object', description: 'Jobs, writes and bytes queued over all partitions, the oldest job\'s age (ms) and the SLUICE_MAX_QUEUE_* limits', additionalProperties: true },
              partitions: { type: 'array', description: 'As in GET /v1/admin/partitions', items: { type: 'object', additionalProperties: true } },
              writers: { type: 'array', items: { type: 'object', additionalProperties: true } },
              lease: { type: 'object', additionalProperties: true },
              layout: { type: 'object', additionalProperties: true },
              replicas: { description: 'Replica state and lag per shard, as the read path sees it' },
              deadLetters: nullable({ type: 'integer' }),
              rates: { type: 'object', properties: { writesPerSec: { type: 'number' }, readsPerSec: { type: 'number' } } },
            },
          }),
          ...problems('503'),
          ...AUTH,
        },
      },
    },
    '/v1/admin/partitions': { get: { operationId: 'list_partitions', summary: 'Who owns which partition, fencing tokens, backlog; live writers; the layout', tags: ['admin'], responses: { '200': ok('Partitions and writers', ref('schemas/Partitions')), ...problems('503'), ...AUTH } } },
    '/v1/admin/partitions/pause': partitionAction('pause', false),
    '/v1/admin/partitions/resume': partitionAction('resume', false),
    '/v1/admin/partitions/{p}/pause': partitionAction('pause', true),
    '/v1/admin/partitions/{p}/resume': partitionAction('resume', true),
    ...shardPaths(),
  };
}

/** OpenAPI 3.1 paths of the admin routes (merged into /openapi.json). */

type Schema = Record<string, unknown>;

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const AUTH = { '401': problem('Missing or unknown API key'), '403': problem('The API key lacks the admin scope') };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const p = { name: 'p', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } };
const query = (name: string, schema: Schema, description: string) => ({ name, in: 'query', schema, description });
const partitionsOk = { '200': { description: 'Partitions (owner, token, leaseExpiresAt, fencedToken, paused, jobs, backlog), live writers, lease settings' }, ...AUTH };

/** The `/v1/admin/*` paths. */
export function adminOpenApiPaths(): Schema {
  return {
    '/v1/admin/dead-letters': {
      get: {
        summary: 'Dead letters, newest first, keyset-paginated (scope admin)',
        parameters: [
          query('table', { type: 'string' }, 'API table name'),
          query('sqlstate', { type: 'string', pattern: '^[0-9A-Z]{2}([0-9A-Z]{3})?$' }, 'A SQLSTATE or its two-character class'),
          query('since', { type: 'string', format: 'date-time' }, 'Created at or after'),
          query('until', { type: 'string', format: 'date-time' }, 'Created before'),
          query('state', { enum: ['pending', 'replayed', 'discarded', 'all'], default: 'pending' }, 'Which dead letters'),
          query('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'Page size'),
          query('after', { type: 'integer' }, 'Cursor: the `next` of the previous page'),
        ],
        responses: { '200': { description: '`{items, next}`; `next` is null on the last page' }, '400': problem('Invalid filter'), ...AUTH },
      },
    },
    '/v1/admin/dead-letters/{id}': {
      get: { summary: 'One dead letter with its stored request', parameters: [id], responses: { '200': { description: 'The dead letter and `payload`' }, '404': problem('No such dead letter'), ...AUTH } },
      delete: { summary: 'Discard (kept as discarded; the write stays `dead`)', parameters: [id], responses: { '204': { description: 'Discarded' }, '404': problem('No such dead letter'), ...AUTH } },
    },
    '/v1/admin/dead-letters/{id}/replay': {
      post: {
        summary: 'Enqueue the stored request again as a new write; idempotent (Idempotency-Key `replay:{id}`)',
        parameters: [id, { $ref: '#/components/parameters/SluiceAck' }],
        responses: {
          '202': { description: '`{writeId, deadLetter}`; `Idempotent-Replayed: true` on a repeat' },
          '200': { description: 'Committed (Sluice-Ack: committed)' },
          '404': problem('No such dead letter'),
          '409': problem('Discarded, or the payload is not replayable'),
          '422': problem('Refused again (Sluice-Ack: committed): a new dead letter'),
          '503': problem('Queue unreachable or backlog too deep'),
          ...AUTH,
        },
      },
    },
    '/v1/admin/partitions': { get: { summary: 'Who owns which partition, fencing tokens, backlog; live writers', responses: { ...partitionsOk, '503': problem('Redis unreachable') } } },
    '/v1/admin/partitions/pause': { post: { summary: 'Pause every partition queue (writers stop taking jobs; writes still queue)', responses: partitionsOk } },
    '/v1/admin/partitions/resume': { post: { summary: 'Resume every partition queue', responses: partitionsOk } },
    '/v1/admin/partitions/{p}/pause': { post: { summary: 'Pause one partition queue', parameters: [p], responses: { ...partitionsOk, '404': problem('No such partition') } } },
    '/v1/admin/partitions/{p}/resume': { post: { summary: 'Resume one partition queue', parameters: [p], responses: { ...partitionsOk, '404': problem('No such partition') } } },
  };
}

/** `doc` with the admin paths added. */
export function withAdminPaths(doc: Schema): Schema {
  return { ...doc, paths: { ...(doc.paths as Schema), ...adminOpenApiPaths() } };
}

import { jsonValueSchema, jsonWithNulSchema, type Schema } from '@sluice/shared/catalog/json-schema.ts';

/**
 * The parts of the OpenAPI document every operation shares: request
 * parameters, response headers, problem responses (RFC 9457, one per error
 * status) and the schemas of Sluice's own bodies.
 */

/** `{ $ref: '#/components/<path>' }` */
export const ref = (path: string) => ({ $ref: `#/components/${path}` });

const str = (description: string, extra: Schema = {}) => ({ schema: { type: 'string', ...extra }, description });

/** Response headers by component name. */
const HEADERS: Record<string, Schema> = {
  RequestId: str('Echo of a sane client `X-Request-Id`, else one the gateway made; also in every problem body (`requestId`)'),
  ConsistencyToken: str('The LSN the write committed at, or the row read is at least as new as: send it back as `Sluice-Consistency-Token` on reads', { example: '0/16B3748' }),
  RetryAfter: { schema: { type: 'integer', minimum: 0 }, description: 'Seconds to wait before retrying (RFC 9110 §10.2.3)' },
  IdempotentReplayed: { schema: { type: 'string', enum: ['true'] }, description: 'This answer replays the first request made with the same Idempotency-Key' },
  PreferenceApplied: str('The `Prefer` preferences honoured (RFC 7240 §3)', { example: 'return=representation, resolution=merge-duplicates' }),
  SluiceSource: { schema: { type: 'string', enum: ['cache', 'replica', 'primary'] }, description: 'Where the rows came from (a multi-get: the farthest any row came from)' },
  CacheStatus: str('RFC 9211: `sluice; hit; ttl=N` (negative: served stale), `fwd=miss`, `fwd=request` (the token was newer than the cached row), `fwd=bypass`'),
  Link: str('RFC 8288: the next page, `<…&after=…>; rel="next"`'),
  ContentRange: str('PostgREST-style item range `first-last/total` (`*` when the total is not counted; writes: `*/affected`)', { example: '0-99/*' }),
  WwwAuthenticate: str('RFC 6750 bearer challenge'),
};

/** Response headers, referenced. */
export const header = (name: keyof typeof HEADERS & string) => ref(`headers/${name}`);

/** The problem responses: one per error status. */
const PROBLEMS: Record<string, [string, string, string[]]> = {
  BadRequest: ['400', 'Invalid JSON, headers, query or values; `errors` lists each bad value with a JSON Pointer', []],
  Unauthorized: ['401', 'Missing or unknown API key', ['WwwAuthenticate']],
  Forbidden: ['403', 'The API key lacks a needed scope (`write:<table>`, `read:<table>`, `admin`)', []],
  NotFound: ['404', 'Unknown table, row, write, dead letter, partition or route', []],
  NotAcceptable: ['406', '`Accept: application/vnd.pgrst.object+json` (postgrest-js `.single()`) and not exactly one row; PostgREST\'s `code` PGRST116 rides along', []],
  Conflict: ['409', 'A request with this Idempotency-Key is still in progress (retry after Retry-After); admin: not replayable, or a view rebuild asked before its first build finished or while a build or rebuild of it runs', ['RetryAfter']],
  PayloadTooLarge: ['413', 'Body larger than SLUICE_MAX_BODY_BYTES, or more rows or keys than SLUICE_MAX_ROWS_PER_REQUEST', []],
  UnsupportedMediaType: ['415', 'Content-Type is not application/json', []],
  Unprocessable: ['422', 'Idempotency-Key reused with another body; the rows of the request live on several shards (`problems/cross-shard`, naming them); or (committed ack) the database refused the write: it was dead-lettered (`sqlstate`, `constraint`, `writeId`)', []],
  Internal: ['500', 'Unexpected error; logged under the request id', []],
  Unavailable: ['503', 'Refused at the door, nothing accepted (Redis unreachable, backlog above SLUICE_MAX_QUEUE_DEPTH, too many pending requests, draining, the database did not answer a read, a read model still being built: `problems/view-building`); with `writeStatus: unknown` and a `writeId`: Redis did not confirm the job, which may still apply once', ['RetryAfter']],
  GatewayTimeout: ['504', 'Committed ack: queued but not committed within SLUICE_COMMIT_WAIT_MS; poll /v1/writes/{writeId}', []],
};

/** A problem response, referenced by status code. */
export function problem(status: string): Schema {
  const name = Object.keys(PROBLEMS).find((k) => PROBLEMS[k]![0] === status);
  if (name === undefined) throw new Error(`openapi: no problem response for ${status}`);
  return ref(`responses/${name}`);
}

/** Problem responses for these statuses, keyed by status. */
export function problems(...statuses: string[]): Record<string, Schema> {
  return Object.fromEntries(statuses.map((s) => [s, problem(s)]));
}

function problemResponses(): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const [name, [, description, extra]] of Object.entries(PROBLEMS)) {
    const headers: Record<string, Schema> = { 'X-Request-Id': header('RequestId') };
    for (const h of extra) headers[h === 'RetryAfter' ? 'Retry-After' : 'WWW-Authenticate'] = header(h);
    out[name] = { description, headers, content: { 'application/problem+json': { schema: ref('schemas/Problem') } } };
  }
  return out;
}

const query = (name: string, schema: Schema, description: string) => ({ name, in: 'query', required: false, schema, description });
const reqHeader = (name: string, schema: Schema, description: string) => ({ name, in: 'header', required: false, schema, description });

/** Request parameters by component name. */
const PARAMETERS: Record<string, Schema> = {
  RequestId: reqHeader('X-Request-Id', { type: 'string', maxLength: 128 }, 'Correlates the request in the gateway\'s logs; echoed in the response when sane, else replaced by one the gateway makes'),
  SluiceAck: reqHeader('Sluice-Ack', { type: 'string', enum: ['queued', 'committed', 'replicated'], default: 'queued' }, '`queued`: 202 once the job is in Redis; `committed`: 201/200 once the transaction committed, with keys and a consistency token; `replicated`: the same answer, sent only once a standby has the commit (survives a failover; 504 if it did not in time; 400 for a shard without standby confirmation, SLUICE_CONFIRM_REPLICAS)'),
  IdempotencyKey: reqHeader('Idempotency-Key', { type: 'string', minLength: 1, maxLength: 255 }, 'draft-ietf-httpapi-idempotency-key-header, scoped per API key: the same key and body replay the first answer; another body: 422'),
  ConsistencyToken: reqHeader('Sluice-Consistency-Token', { type: 'string', pattern: '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$' }, 'Read your writes: the token of a committed write (or a read); the answer is at least that new'),
  PreferWrite: reqHeader('Prefer', { type: 'string' }, 'RFC 7240, PostgREST\'s preferences: `return=representation` (wait for the commit, answer with the rows written; `select=` shapes them) or `return=minimal` (no body); `resolution=merge-duplicates` (upsert on the primary key) or `ignore-duplicates` (skip rows whose key exists); `count=exact` (committed writes: `Content-Range: */affected`); `missing=default`'),
  PreferRead: reqHeader('Prefer', { type: 'string', enum: ['count=exact'] }, '`count=exact`: the total in Content-Range, for rows looked up by key only (a list would need a scan: 400)'),
  Select: query('select', { type: 'string', example: 'id,label:kind' }, 'PostgREST\'s column list: `*`, columns, renames `alias:column`; answers in PostgREST\'s shape (a JSON array). Writes: the columns of `return=representation`'),
  Order: query('order', { type: 'string', example: 'id.desc' }, 'By the primary key only: `<key>.asc` (default) or `<key>.desc` (composite keys: each key column in order, one direction)'),
  Limit: query('limit', { type: 'integer', minimum: 1 }, 'Rows per page, at most SLUICE_MAX_ROWS_PER_REQUEST (default 100; with `select=`, that maximum)'),
  Offset: query('offset', { type: 'integer', minimum: 0 }, 'Rows to skip, within one page (offset + limit ≤ SLUICE_MAX_ROWS_PER_REQUEST); page further with the key (gt./lt.) or `after`'),
  After: query('after', { type: 'string' }, 'Keyset cursor: the `next` of the previous page (or the Link header)'),
  OnConflict: query('on_conflict', { type: 'string' }, 'The primary-key columns (comma-separated): Sluice upserts on the primary key only'),
  Columns: query('columns', { type: 'string', example: '"kind","qty"' }, 'PostgREST: only these columns are taken from each row'),
};

/** A request parameter, referenced. */
export const param = (name: keyof typeof PARAMETERS & string) => ref(`parameters/${name}`);

const WRITE_ID = { type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)+$', example: 'main.1.3.k3j2x9a0qz.4.0' };

/** Sluice's own bodies. */
function schemas(): Record<string, Schema> {
  const keyValue = { description: 'A key value: string, number or boolean' };
  return {
    JsonValue: jsonValueSchema(),
    JsonWithNul: jsonWithNulSchema(),
    Queued: { type: 'object', required: ['writeId'], properties: { writeId: { ...WRITE_ID, description: 'Names the partition and job: poll GET /v1/writes/{writeId}' } } },
    Committed: {
      type: 'object',
      required: ['writeId', 'status', 'token', 'committedAt'],
      properties: {
        writeId: WRITE_ID,
        status: { const: 'committed' },
        keys: { type: 'array', description: 'Primary key of each row inserted or upserted, per op (null where unknown)', items: { anyOf: [{ type: 'object', additionalProperties: keyValue }, { type: 'null' }] } },
        affected: { type: 'array', description: 'Rows affected per op (empty when the answer replays an earlier request)', items: { type: 'integer', minimum: 0 } },
        token: { type: 'string', description: 'Consistency token (also the Sluice-Consistency-Token header)' },
        committedAt: { type: 'string', format: 'date-time' },
        replicated: { const: true, description: 'Present for `Sluice-Ack: replicated`: a standby had the commit when this answer was sent' },
      },
    },
    WriteStatus: {
      oneOf: [
        { type: 'object', required: ['writeId', 'status', 'state'], properties: { writeId: WRITE_ID, status: { const: 'queued' }, state: { type: 'string', description: 'The job\'s state in its partition\'s log' } } },
        {
          type: 'object',
          required: ['writeId', 'status', 'token', 'committedAt'],
          properties: {
            writeId: WRITE_ID,
            status: { const: 'committed' },
            token: { type: 'string' },
            committedAt: { type: 'string', format: 'date-time' },
            retainedUntil: { type: 'string', format: 'date-time', description: 'After this (committedAt + SLUICE_DEDUPE_RETENTION_S) the status is no longer kept and this route answers 404' },
          },
        },
        {
          type: 'object',
          required: ['writeId', 'status', 'sqlstate', 'message', 'deadAt'],
          properties: { writeId: WRITE_ID, status: { const: 'dead' }, sqlstate: { type: 'string' }, message: { type: 'string' }, constraint: { type: 'string' }, column: { type: 'string' }, deadAt: { type: 'string', format: 'date-time' } },
        },
      ],
    },
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details; extension members (`writeId`, `writeStatus`, `sqlstate`, `constraint`, `code`…) as the error needs',
      required: ['type', 'title', 'status', 'requestId'],
      properties: {
        type: { type: 'string', format: 'uri' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        instance: { type: 'string' },
        requestId: { type: 'string' },
        errors: { type: 'array', items: { type: 'object', required: ['pointer', 'detail'], properties: { pointer: { type: 'string', description: 'RFC 6901 JSON Pointer into the body' }, detail: { type: 'string' } } } },
      },
    },
  };
}

/** The document's `components`, with the table schemas given. */
export function components(tableSchemas: Record<string, Schema>, extraSchemas: Record<string, Schema>): Schema {
  return {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from SLUICE_API_KEYS (not needed when auth is off)' } },
    parameters: PARAMETERS,
    headers: HEADERS,
    responses: problemResponses(),
    schemas: { ...schemas(), ...extraSchemas, ...tableSchemas },
  };
}

import type { Catalog, ColumnKind, TableInfo } from '@sluice/shared/catalog/types.ts';

type Schema = Record<string, unknown>;

const KIND_SCHEMA: Record<ColumnKind, Schema> = {
  bool: { type: 'boolean' },
  int2: { type: 'integer', minimum: -32768, maximum: 32767 },
  int4: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
  int8: { oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^[+-]?\\d{1,19}$' }], description: 'beyond ±2^53 send a string of digits' },
  float: { type: 'number' },
  numeric: { oneOf: [{ type: 'number' }, { type: 'string' }], description: 'a string keeps every digit' },
  text: { type: 'string' },
  uuid: { type: 'string', format: 'uuid' },
  json: {},
  timestamp: { type: 'string', format: 'date-time' },
  date: { type: 'string', format: 'date' },
  time: { type: 'string', format: 'time' },
  bytea: { type: 'string', contentEncoding: 'base64' },
  unsupported: { not: {}, description: 'column type not supported by Sluice' },
};

function rowSchema(t: TableInfo): Schema {
  const properties: Record<string, Schema> = {};
  for (const c of t.columns) {
    if (c.generatedAlways) continue;
    const base = c.maxLength !== undefined ? { ...KIND_SCHEMA[c.kind], maxLength: c.maxLength } : KIND_SCHEMA[c.kind];
    properties[c.name] = c.notNull ? { ...base, description: c.type } : { anyOf: [base, { type: 'null' }], description: c.type };
  }
  const required = t.columns.filter((c) => c.notNull && !c.hasDefault && !c.generatedAlways).map((c) => c.name);
  return { type: 'object', additionalProperties: false, properties, ...(required.length > 0 ? { required } : {}) };
}

const ref = (name: string) => ({ $ref: `#/components/${name}` });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('schemas/Problem') } } });

const ERRORS = {
  '400': problem('Invalid JSON, headers or values (each with a JSON Pointer in `errors`)'),
  '401': problem('Missing or unknown API key'),
  '403': problem('The API key lacks a needed scope'),
  '404': problem('Unknown table or route'),
  '409': problem('A request with this Idempotency-Key is still in progress'),
  '413': problem('Body larger than SLUICE_MAX_BODY_BYTES or more rows than SLUICE_MAX_ROWS_PER_REQUEST'),
  '415': problem('Content-Type is not application/json'),
  '422': problem('Idempotency-Key reused with another body, or (committed ack) the write was dead-lettered'),
  '503': problem('Queue unreachable or backlog too deep; see Retry-After'),
  '504': problem('Committed ack: not committed within SLUICE_COMMIT_WAIT_MS; poll /v1/writes/{writeId}'),
};

const WRITE_HEADERS = [ref('parameters/SluiceAck'), ref('parameters/IdempotencyKey')];

function writeResponses(created: boolean): Schema {
  return {
    '202': { description: 'Queued (Sluice-Ack: queued)', content: { 'application/json': { schema: ref('schemas/Queued') } } },
    [created ? '201' : '200']: {
      description: 'Committed (Sluice-Ack: committed)',
      headers: { 'Sluice-Consistency-Token': { schema: { type: 'string' }, description: 'Send on reads for read-your-writes' } },
      content: { 'application/json': { schema: ref('schemas/Committed') } },
    },
    ...ERRORS,
  };
}

function paths(tables: string[]): Schema {
  const table = { name: 'table', in: 'path', required: true, schema: tables.length > 0 ? { type: 'string', enum: tables } : { type: 'string' } };
  const key = { name: 'key', in: 'path', required: true, schema: { type: 'string' }, description: 'Primary key; composite keys: values joined by `,` in key-column order, each percent-encoded' };
  const body = { required: true, content: { 'application/json': { schema: { oneOf: [{ type: 'object' }, { type: 'array', items: { type: 'object' } }] } } } };
  return {
    '/v1/tables/{table}': {
      post: {
        summary: 'Insert one row or an array of rows (upsert with Prefer: resolution=merge-duplicates)',
        parameters: [table, ...WRITE_HEADERS, { name: 'Prefer', in: 'header', schema: { type: 'string', example: 'resolution=merge-duplicates' } }],
        requestBody: body,
        responses: writeResponses(true),
      },
    },
    '/v1/tables/{table}/{key}': {
      patch: { summary: 'Update the given columns of one row', parameters: [table, key, ...WRITE_HEADERS], requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } }, responses: writeResponses(false) },
      delete: { summary: 'Delete one row', parameters: [table, key, ...WRITE_HEADERS], responses: writeResponses(false) },
    },
    '/v1/batch': {
      post: { summary: 'Several operations, applied atomically', parameters: WRITE_HEADERS, requestBody: { required: true, content: { 'application/json': { schema: ref('schemas/Batch') } } }, responses: writeResponses(false) },
    },
    '/v1/writes/{writeId}': {
      get: {
        summary: 'Status of a write',
        parameters: [{ name: 'writeId', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'queued, committed or dead', content: { 'application/json': { schema: ref('schemas/WriteStatus') } } }, '401': ERRORS['401'], '403': ERRORS['403'], '404': ERRORS['404'] },
      },
    },
    '/healthz': { get: { summary: 'The process is alive', security: [], responses: { '200': { description: 'alive' } } } },
    '/livez': { get: { summary: 'Load balancer check: this node can accept writes (its Redis connection is up, it is not draining); never judges Postgres or the backlog', security: [], responses: { '200': { description: 'live' }, '503': problem('draining or Redis unreachable') } } },
    '/readyz': { get: { summary: 'Deep check for humans: Redis and Postgres answer and the backlog is under the limit; shows non-secret knobs; 503 while draining', security: [], responses: { '200': { description: 'ready' }, '503': problem('not ready') } } },
    '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'text exposition format', content: { 'text/plain': {} } } } } },
    '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
  };
}

function components(catalog: Catalog): Schema {
  const rows: Record<string, Schema> = {};
  for (const t of catalog.values()) rows[`Row_${t.name.replace(/[^A-Za-z0-9_.-]/g, '_')}`] = rowSchema(t);
  return {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from SLUICE_API_KEYS (absent when auth is off)' } },
    parameters: {
      SluiceAck: { name: 'Sluice-Ack', in: 'header', schema: { type: 'string', enum: ['queued', 'committed'], default: 'queued' } },
      IdempotencyKey: { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 }, description: 'draft-ietf-httpapi-idempotency-key-header; scoped per API key' },
    },
    schemas: {
      ...rows,
      Queued: { type: 'object', required: ['writeId'], properties: { writeId: { type: 'string' } } },
      Committed: {
        type: 'object',
        properties: { writeId: { type: 'string' }, status: { const: 'committed' }, keys: { type: 'array' }, affected: { type: 'array', items: { type: 'integer' } }, token: { type: 'string' }, committedAt: { type: 'string', format: 'date-time' } },
      },
      WriteStatus: { type: 'object', required: ['writeId', 'status'], properties: { writeId: { type: 'string' }, status: { enum: ['queued', 'committed', 'dead'] }, token: { type: 'string' }, committedAt: { type: 'string' }, sqlstate: { type: 'string' }, message: { type: 'string' } } },
      Batch: {
        type: 'object',
        required: ['ops'],
        properties: { ops: { type: 'array', items: { type: 'object', required: ['table', 'op'], properties: { table: { type: 'string' }, op: { enum: ['insert', 'upsert', 'update', 'delete'] }, row: { type: 'object' }, key: {} } } } },
      },
      Problem: {
        type: 'object',
        description: 'RFC 9457 problem details',
        properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, instance: { type: 'string' }, requestId: { type: 'string' }, errors: { type: 'array', items: { type: 'object', properties: { pointer: { type: 'string' }, detail: { type: 'string' } } } } },
      },
    },
  };
}

/** The OpenAPI 3.1 document of this gateway, including the exposed tables and their row shapes. */
export function openApiDocument(catalog: Catalog, version: string): Schema {
  const tables = [...catalog.keys()];
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice', version, description: 'Write-forwarding batching gateway for PostgreSQL. Errors are application/problem+json (RFC 9457).' },
    security: [{ bearer: [] }],
    paths: paths(tables),
    components: components(catalog),
  };
}

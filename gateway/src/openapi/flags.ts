import type { Schema } from '@sluice/shared/catalog/json-schema.ts';
import { header, problems, ref } from './components.ts';

/** The feature-flag paths: evaluation (any valid key) and `/v1/admin/flags` (scope `admin`). */

const json = (schema: Schema) => ({ 'application/json': { schema } });
const rid = { 'X-Request-Id': header('RequestId') };
const ok = (description: string, schema: Schema) => ({ description, headers: rid, content: json(schema) });
const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: NAME }, description: 'The flag (`stream` and `evaluate` are reserved: they are routes)' };
const userId = { name: 'userId', in: 'query', required: true, schema: { type: 'string', minLength: 1, maxLength: 256 }, description: 'The sticky id bucketed into the rollout' };

/** Schemas of the flag bodies. */
export function flagSchemas(): Record<string, Schema> {
  const int = { type: 'integer' };
  return {
    Flag: {
      type: 'object',
      required: ['name', 'enabled', 'rollout', 'description', 'version', 'updatedBy', 'updatedAt'],
      properties: {
        name: { type: 'string' }, enabled: { type: 'boolean' }, rollout: { type: 'integer', minimum: 0, maximum: 100 }, description: { type: 'string' },
        version: { ...int, description: 'The change that produced this state; versions of all flags share one ever-rising sequence' },
        updatedBy: { type: 'string', description: 'Id of the API key that made the change' }, updatedAt: { type: 'string', format: 'date-time' },
      },
    },
    FlagInput: {
      type: 'object',
      required: ['enabled'],
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', description: 'false: off for everyone (the kill switch)' },
        rollout: { type: 'integer', minimum: 0, maximum: 100, description: 'Percent of users (absent: 100): a user is in when murmur3_32("{flag}:{userId}", 0) % 100 + 1 ≤ rollout (Unleash\'s bucketing; raising it only adds users)' },
        description: { type: 'string', maxLength: 1000, description: 'Free text (absent: empty)' },
      },
    },
    FlagEvaluation: {
      type: 'object',
      required: ['name', 'enabled', 'version', 'reason'],
      properties: { name: { type: 'string' }, enabled: { type: 'boolean' }, version: { ...int, description: '0 for an unknown flag' }, reason: { type: 'string', enum: ['disabled', 'rollout-in', 'rollout-out', 'unknown'] } },
    },
    FlagChange: {
      type: 'object',
      required: ['version', 'name', 'actor', 'at', 'before', 'after'],
      properties: { version: int, name: { type: 'string' }, actor: { type: 'string' }, at: { type: 'string', format: 'date-time' }, before: { anyOf: [ref('schemas/Flag'), { type: 'null' }] }, after: { anyOf: [ref('schemas/Flag'), { type: 'null' }] } },
    },
  };
}

/** The flag paths. */
export function flagPaths(): Record<string, Schema> {
  const AUTH = problems('401', '500');
  const ADMIN = problems('401', '403', '500');
  const set = { type: 'object', required: ['version', 'flags'], properties: { version: { type: 'integer' }, flags: { type: 'array', items: ref('schemas/Flag') } } };
  return {
    '/v1/flags/{name}': {
      get: {
        operationId: 'evaluate_flag',
        summary: 'Evaluate one flag for a user, from this gateway\'s copy of the set (no I/O); `/v1/flags/stream` is the SSE stream below',
        tags: ['flags'],
        parameters: [name, userId],
        responses: { '200': ok('The answer', ref('schemas/FlagEvaluation')), ...problems('400', '404'), ...AUTH },
      },
    },
    '/v1/flags/evaluate': {
      post: {
        operationId: 'evaluate_flags',
        summary: 'Evaluate many flags (all of them when `flags` is omitted) for one user, from one version of the set',
        tags: ['flags'],
        requestBody: { required: true, content: json({ type: 'object', required: ['userId'], additionalProperties: false, properties: { userId: { type: 'string', minLength: 1, maxLength: 256 }, flags: { type: 'array', maxItems: 200, items: { type: 'string', pattern: NAME } } } }) },
        responses: { '200': ok('One answer per flag, in the order asked; unknown flags are off with reason `unknown`', { type: 'object', required: ['version', 'flags'], properties: { version: { type: 'integer' }, flags: { type: 'array', items: ref('schemas/FlagEvaluation') } } }), ...problems('400', '413', '415'), ...AUTH },
      },
    },
    '/v1/flags/stream': {
      get: {
        operationId: 'stream_flags',
        summary: 'Server-sent events for SDKs that evaluate locally: `flags` (the whole set, `{version, flags}`), then `flag` (one flag\'s new state) and `delete` (`{name, version}`) in version order; `id` is the version; a comment every 15 s',
        tags: ['flags'],
        responses: { '200': { description: 'An endless text/event-stream (ends when the gateway drains: reconnect)', headers: rid, content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...AUTH },
      },
    },
    '/v1/admin/flags': { get: { operationId: 'list_flags', summary: 'Every stored flag and the set\'s version (read from Postgres)', tags: ['admin', 'flags'], responses: { '200': ok('The set', set), ...ADMIN } } },
    '/v1/admin/flags/{name}': {
      parameters: [name],
      put: {
        operationId: 'put_flag',
        summary: 'Create or change a flag; stored with a new version and an audit row; every gateway evaluates it within 1 s of this answer',
        tags: ['admin', 'flags'],
        requestBody: { required: true, content: json(ref('schemas/FlagInput')) },
        responses: { '200': ok('The flag at its new version', ref('schemas/Flag')), ...problems('400', '413', '415'), ...ADMIN },
      },
      delete: {
        operationId: 'delete_flag',
        summary: 'Delete a flag (its history stays); evaluations answer 404 within 1 s everywhere',
        tags: ['admin', 'flags'],
        responses: { '200': ok('Deleted', { type: 'object', required: ['name', 'deleted', 'version'], properties: { name: { type: 'string' }, deleted: { type: 'boolean' }, version: { type: 'integer' } } }), ...problems('400', '404'), ...ADMIN },
      },
    },
    '/v1/admin/flags/{name}/history': {
      get: {
        operationId: 'flag_history',
        summary: 'The audit rows of a flag, newest first: who, when, before and after',
        tags: ['admin', 'flags'],
        parameters: [name, { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } }],
        responses: { '200': ok('The changes', { type: 'object', required: ['name', 'changes'], properties: { name: { type: 'string' }, changes: { type: 'array', items: ref('schemas/FlagChange') } } }), ...problems('400', '404'), ...ADMIN },
      },
    },
  };
}

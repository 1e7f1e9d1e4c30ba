import { rowSchema, schemaName, type Schema } from '@sluice/shared/catalog/json-schema.ts';
import type { TableInfo } from '@sluice/shared/catalog/types.ts';
import { header, param, problems, ref } from './components.ts';

/**
 * The paths of one read model (SLUICE_VIEWS_DIR), `/v1/views/<name>[/{key}]`,
 * with its row schema `View_<name>` (group columns, then the aggregates),
 * and `/v1/admin/views`.
 */

const json = (schema: Schema) => ({ 'application/json': { schema } });
const READ_HEADERS = { 'Sluice-Source': header('SluiceSource'), 'Cache-Status': header('CacheStatus'), 'Sluice-Consistency-Token': header('ConsistencyToken') };

/** Paths of one view (`info` from viewTableInfo). */
export function viewPaths(info: TableInfo): Record<string, Schema> {
  const s = schemaName(info.name);
  const id = s.replace(/[^A-Za-z0-9_]/g, '_');
  const row = ref(`schemas/View_${s}`);
  const pk = info.primaryKey.map((c) => c.name);
  const base = `/v1/views/${encodeURIComponent(info.name)}`;
  const key = { name: 'key', in: 'path', required: true, schema: { type: 'string' }, description: `The group (${pk.join(', ')})${pk.length > 1 ? ': values joined by `,` in key order, each percent-encoded' : ''}` };
  const filters = (pk.length > 1 ? [pk[0]!] : pk).map((c) => ({ name: c, in: 'query', required: false, schema: { type: 'string', pattern: '^eq\\..*$' }, description: `\`eq.<value>\` on ${c}` }));
  return {
    [base]: {
      get: {
        operationId: `list_view_${id}`,
        summary: `Groups of the read model ${info.name}: a keyset page in key order`,
        description: 'Kept exact in every batch transaction; 503 with Retry-After while the view is being built. `{rows, next}`; eq. on the group key, or on its first column for a composite key; `after=` for the next page.',
        tags: ['views'],
        parameters: [param('ConsistencyToken'), param('Limit'), param('After'), ...filters],
        responses: {
          '200': { description: 'The groups', headers: READ_HEADERS, content: json({ type: 'object', required: ['rows'], properties: { rows: { type: 'array', items: row }, next: { anyOf: [{ type: 'string' }, { type: 'null' }] } } }) },
          ...problems('400', '401', '403', '404', '500', '503'),
        },
      },
    },
    [`${base}/{key}`]: {
      parameters: [key],
      get: {
        operationId: `get_view_${id}`,
        summary: `One group of the read model ${info.name}, through the cache (Sluice-Consistency-Token: includes that write)`,
        tags: ['views'],
        parameters: [param('ConsistencyToken')],
        responses: {
          '200': { description: 'The group', headers: READ_HEADERS, content: json(row) },
          ...problems('400', '401', '403', '404', '500', '503'),
        },
      },
    },
  };
}

/** `View_<name>`. */
export function viewSchemas(info: TableInfo): Record<string, Schema> {
  return { [`View_${schemaName(info.name)}`]: rowSchema(info) };
}

/** `/v1/admin/views`. */
export function adminViewPaths(): Record<string, Schema> {
  const str = { type: 'string' };
  const item = {
    type: 'object',
    properties: {
      shard: str, name: str, state: { enum: ['building', 'ready', 'rebuilding'] }, rowsAtBuild: { anyOf: [{ type: 'integer' }, { type: 'string' }, { type: 'null' }] },
      rowsEstimate: { anyOf: [{ type: 'integer' }, { type: 'string' }] }, verifiedAt: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] },
      differing: { anyOf: [{ type: 'integer' }, { type: 'null' }] }, readyAt: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] },
    },
  };
  const name = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'The view (its file name without .sql)' };
  const json2 = (schema: Schema) => ({ 'application/json': { schema } });
  return {
    '/v1/admin/views/{name}/verify': {
      parameters: [name],
      post: {
        operationId: 'verify_view',
        summary: 'Recompute a view from its base table on every shard and report each differing group (`pnpm sluice views verify <name>`)',
        tags: ['admin'],
        responses: {
          '200': { description: 'The comparison (differing = 0: exact)', headers: { 'X-Request-Id': header('RequestId') }, content: json2({ type: 'object', required: ['view', 'differing', 'shards'], properties: { view: str, differing: { type: 'integer' }, shards: { type: 'array', items: { type: 'object', properties: { shard: str, differing: { type: 'integer' }, groups: { type: 'array', items: { type: 'object', properties: { stored: {}, fresh: {} } } } } } } } }) },
          ...problems('401', '403', '404', '500', '503'),
        },
      },
    },
    '/v1/admin/views/{name}/rebuild': {
      parameters: [name],
      post: {
        operationId: 'rebuild_view',
        summary: 'Recompute a view from its base table online on every shard and swap it in atomically; writes keep committing and are in the result (`pnpm sluice views rebuild <name>`)',
        tags: ['admin'],
        responses: {
          '200': { description: 'Rebuilt: groups, deltas folded at the swap, time per shard', headers: { 'X-Request-Id': header('RequestId') }, content: json2({ type: 'object', required: ['view', 'shards'], properties: { view: str, shards: { type: 'array', items: { type: 'object', properties: { shard: str, rows: { type: 'integer' }, logged: { type: 'integer' }, ms: { type: 'integer' } } } } } }) },
          ...problems('401', '403', '404', '409', '500', '503'),
        },
      },
    },
    '/v1/admin/views': {
      get: {
        operationId: 'list_views',
        summary: 'Read models on every shard: state, rows, the last verify',
        tags: ['admin'],
        responses: { '200': { description: 'The views', headers: { 'X-Request-Id': header('RequestId') }, content: json({ type: 'object', required: ['views'], properties: { views: { type: 'array', items: item } } }) }, ...problems('401', '403', '500', '503') },
      },
    },
  };
}

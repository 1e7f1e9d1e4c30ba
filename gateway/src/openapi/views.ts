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

/** `/v1/admin/views`, `/v1/admin/views/{name}` and its verify and rebuild. */
export function adminViewPaths(): Record<string, Schema> {
  const str = { type: 'string' };
  const time = { type: 'string', format: 'date-time' };
  const orNull = (schema: Schema) => ({ anyOf: [schema, { type: 'null' }] });
  const count = { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  const rebuild = {
    type: 'object',
    description: 'Status of a rebuild: running (its runner holds the view\'s build lock), done, failed (error), or interrupted (its gateway stopped; the view stays readable and is rebuilt again by the next rebuild or writer start)',
    properties: {
      status: { enum: ['running', 'done', 'failed', 'interrupted'] },
      phase: { ...orNull({ enum: ['waiting', 'scanning', 'swapping'] }), description: 'While running: waiting for transactions older than the rebuild, scanning the base table, or swapping the new table in' },
      startedAt: time, finishedAt: orNull(time), ms: orNull({ type: 'integer' }), logged: { ...orNull(count), description: 'Batch deltas folded into the new table at the swap' }, error: orNull(str),
    },
  };
  const item = {
    type: 'object',
    properties: {
      shard: str, name: str, state: { enum: ['building', 'ready', 'rebuilding'] }, rowsAtBuild: orNull(count),
      rowsEstimate: count, verifiedAt: orNull(time), differing: orNull({ type: 'integer' }), readyAt: orNull(time),
      rebuild: { ...orNull(rebuild), description: 'The last rebuild asked through the admin API on this shard (null: none)' },
    },
  };
  const name = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'The view (its file name without .sql)' };
  const rid = { 'X-Request-Id': header('RequestId') };
  return {
    '/v1/admin/views/{name}/verify': {
      parameters: [name],
      post: {
        operationId: 'verify_view',
        summary: 'Recompute a view from its base table on every shard and report each differing group (`pnpm sluice views verify <name>`)',
        tags: ['admin'],
        responses: {
          '200': { description: 'The comparison (differing = 0: exact)', headers: rid, content: json({ type: 'object', required: ['view', 'differing', 'shards'], properties: { view: str, differing: { type: 'integer' }, shards: { type: 'array', items: { type: 'object', properties: { shard: str, differing: { type: 'integer' }, groups: { type: 'array', items: { type: 'object', properties: { stored: {}, fresh: {} } } } } } } } }) },
          ...problems('401', '403', '404', '500', '503'),
        },
      },
    },
    '/v1/admin/views/{name}/rebuild': {
      parameters: [name],
      post: {
        operationId: 'rebuild_view',
        summary: 'Start recomputing a view from its base table online on every shard and swapping it in atomically; writes keep committing and are in the result (`pnpm sluice views rebuild <name>` polls until done)',
        description: 'Answers 202 at once: the rebuild scans the whole base table in the background. Poll `Location` (GET /v1/admin/views/{name}) until `rebuild` is no longer `running`. 409 while a build or rebuild of the view runs, or before its first build finished.',
        tags: ['admin'],
        responses: {
          '202': { description: 'Started', headers: { ...rid, Location: { description: 'The view\'s status, to poll', schema: str } }, content: json({ type: 'object', required: ['view', 'status', 'startedAt', 'location'], properties: { view: str, status: { enum: ['running'] }, startedAt: time, location: str } }) },
          ...problems('401', '403', '404', '409', '500', '503'),
        },
      },
    },
    '/v1/admin/views/{name}': {
      parameters: [name],
      get: {
        operationId: 'get_view_status',
        summary: 'One read model on every shard: state, rows, the last verify and the last rebuild (poll it after starting a rebuild)',
        tags: ['admin'],
        responses: {
          '200': { description: 'The view', headers: rid, content: json({ type: 'object', required: ['view', 'rebuild', 'shards'], properties: { view: str, rebuild: { ...orNull({ enum: ['running', 'done', 'failed', 'interrupted'] }), description: 'The last rebuild over every shard (the worst of them; null: none)' }, shards: { type: 'array', items: item } } }) },
          ...problems('401', '403', '404', '500', '503'),
        },
      },
    },
    '/v1/admin/views': {
      get: {
        operationId: 'list_views',
        summary: 'Read models on every shard: state, rows, the last verify and the last rebuild',
        tags: ['admin'],
        responses: { '200': { description: 'The views', headers: rid, content: json({ type: 'object', required: ['views'], properties: { views: { type: 'array', items: item } } }) }, ...problems('401', '403', '500', '503') },
      },
    },
  };
}

import { insertSchema, rowSchema, schemaName, updateSchema, type Schema } from '@sluice/shared/catalog/json-schema.ts';
import type { TableInfo } from '@sluice/shared/catalog/types.ts';
import { header, param, problems, ref } from './components.ts';

/**
 * The paths of one exposed table, `/v1/tables/<table>[/{key}|/get]`, with
 * its row schemas (`Row_<t>` as read, `Insert_<t>`, `Update_<t>` as
 * written) referenced by every operation, as PostgREST's own document
 * does: a generator (openapi-typescript, `pnpm sluice types`) gets one typed
 * operation per table and method.
 */

/** One table as the document sees it: its catalog entry and the columns a list may filter on with eq. */
export interface DocTable {
  info: TableInfo;
  indexed: readonly string[];
}

/** Query parameters Sluice reads itself: a column with one of these names cannot be a filter parameter. */
const RESERVED = new Set(['select', 'order', 'limit', 'offset', 'after', 'on_conflict', 'columns', 'or', 'and', 'not']);
/** Sluice's multi-get `?key=in.(…)`, unless the table has a column named `key` (then that column's filter). */
const MULTI_GET = { name: 'key', in: 'query', required: false, schema: { type: 'string', pattern: '^in\\.\\(.*\\)$' }, description: 'Sluice\'s multi-get: `in.(k1,k2,…)`; composite keys quoted: `in.("a,1","b,2")`' };

const json = (schema: Schema) => ({ 'application/json': { schema } });
const arrayOf = (schema: Schema) => ({ type: 'array', items: schema });

/** Names used in operation ids and schema names. */
function names(t: TableInfo): { s: string; id: string } {
  const s = schemaName(t.name);
  return { s, id: s.replace(/[^A-Za-z0-9_]/g, '_') };
}

/** Filter parameters: one per primary-key column and indexed column. */
function filterParams(d: DocTable, writes: boolean): Schema[] {
  const pk = d.info.primaryKey.map((c) => c.name);
  const one = pk.length === 1;
  const cols = writes ? pk : [...new Set([...pk, ...d.indexed])];
  return cols.filter((c) => !RESERVED.has(c)).map((c) => {
    const inKey = pk.includes(c);
    const ops = inKey && one ? (writes ? ['eq', 'in'] : ['eq', 'in', 'gt', 'lt']) : ['eq'];
    const what = inKey ? (one ? 'the primary key' : 'a primary-key column (give every one for a lookup)') : 'an indexed column (a keyset page in key order)';
    return {
      name: c,
      in: 'query',
      required: false,
      schema: { type: 'string', pattern: `^(${ops.join('|')})\\.` },
      description: `PostgREST filter on ${what}: ${ops.map((o) => `\`${o}.\``).join(', ')}${inKey && one && !writes ? ' (`gt.` with ascending order, `lt.` with descending: keyset paging)' : ''}`,
    };
  });
}

/** 202/201/200/204 and the problems of a table write; `rows` = its representation. */
function writeResponses(ok: '200' | '201', row: Schema): Schema {
  const rows = arrayOf(row);
  return {
    '202': { description: 'Queued (Sluice-Ack: queued, the default); no body with `Prefer: return=minimal`', headers: { 'X-Request-Id': header('RequestId'), 'Idempotent-Replayed': header('IdempotentReplayed'), 'Preference-Applied': header('PreferenceApplied') }, content: json(ref('schemas/Queued')) },
    [ok]: {
      description: 'Committed: Sluice\'s result (Sluice-Ack: committed), or the rows written (`Prefer: return=representation`; one object for `Accept: application/vnd.pgrst.object+json`)',
      headers: { 'Sluice-Consistency-Token': header('ConsistencyToken'), 'X-Request-Id': header('RequestId'), 'Idempotent-Replayed': header('IdempotentReplayed'), 'Preference-Applied': header('PreferenceApplied'), 'Content-Range': header('ContentRange') },
      content: { ...json({ oneOf: [ref('schemas/Committed'), rows] }), 'application/vnd.pgrst.object+json': { schema: row } },
    },
    ...(ok === '200' ? { '204': { description: 'Committed, `Prefer: return=minimal`', headers: { 'Sluice-Consistency-Token': header('ConsistencyToken'), 'X-Request-Id': header('RequestId') } } } : {}),
    ...problems('400', '401', '403', '404', '406', '409', '413', '415', '422', '500', '503', '504'),
  };
}

const WRITE_HEADERS = [param('SluiceAck'), param('IdempotencyKey'), param('PreferWrite')];
const READ_OK_HEADERS = { 'Sluice-Source': header('SluiceSource'), 'X-Request-Id': header('RequestId') };

function collection(d: DocTable, s: string, id: string): Schema {
  const row = ref(`schemas/Row_${s}`);
  const page = { type: 'object', required: ['rows', 'next'], properties: { rows: arrayOf(row), next: { anyOf: [{ type: 'string' }, { type: 'null' }], description: 'Cursor of the next page (`after=`), null on the last' } } };
  const multi = { type: 'object', required: ['rows'], properties: { rows: arrayOf({ anyOf: [row, { type: 'null' }] }) } };
  const t = d.info.name;
  return {
    post: {
      operationId: `insert_${id}`,
      summary: `Insert rows into ${t} (upsert with Prefer: resolution=merge-duplicates)`,
      description: 'One row or an array of rows, applied atomically. `Prefer: resolution=merge-duplicates` upserts on the primary key, `ignore-duplicates` skips rows whose key exists (both need every key column).',
      tags: ['tables'],
      parameters: [...WRITE_HEADERS, param('Select'), param('OnConflict'), param('Columns')],
      requestBody: { required: true, content: json({ oneOf: [ref(`schemas/Insert_${s}`), arrayOf(ref(`schemas/Insert_${s}`))] }) },
      responses: writeResponses('201', row),
    },
    get: {
      operationId: `list_${id}`,
      summary: `Read rows of ${t}: a keyset page, or rows by key`,
      description: 'Sluice\'s answer is `{rows, next}` (`?key=in.(…)`: `{rows}` with null for missing rows, in the order asked). With `select=` (postgrest-js) the rows alone, as PostgREST answers. Filters: eq. on the key or one indexed column, in. on a one-column key, gt./lt. on it for keyset paging; anything needing a scan is a 400.',
      tags: ['tables'],
      parameters: [param('ConsistencyToken'), param('PreferRead'), param('Select'), param('Order'), param('Limit'), param('Offset'), param('After'), ...(d.info.byName.has('key') ? [] : [MULTI_GET]), ...filterParams(d, false)],
      responses: {
        '200': {
          description: 'The rows',
          headers: { ...READ_OK_HEADERS, Link: header('Link'), 'Content-Range': header('ContentRange'), 'Cache-Status': header('CacheStatus'), 'Sluice-Consistency-Token': header('ConsistencyToken'), 'Preference-Applied': header('PreferenceApplied') },
          content: { ...json({ oneOf: [page, multi, arrayOf(row)] }), 'application/vnd.pgrst.object+json': { schema: row } },
        },
        ...problems('400', '401', '403', '404', '406', '413', '500', '503'),
      },
    },
    patch: {
      operationId: `update_${id}_where`,
      summary: `Update the rows of ${t} named by key (PostgREST: eq./in. on the key)`,
      tags: ['tables'],
      parameters: [...WRITE_HEADERS, param('Select'), ...filterParams(d, true)],
      requestBody: { required: true, content: json(ref(`schemas/Update_${s}`)) },
      responses: writeResponses('200', row),
    },
    delete: {
      operationId: `delete_${id}_where`,
      summary: `Delete the rows of ${t} named by key (PostgREST: eq./in. on the key)`,
      tags: ['tables'],
      parameters: [...WRITE_HEADERS, param('Select'), ...filterParams(d, true)],
      responses: writeResponses('200', row),
    },
  };
}

function byKey(d: DocTable, s: string, id: string): Schema {
  const row = ref(`schemas/Row_${s}`);
  const pk = d.info.primaryKey.map((c) => c.name);
  const key = { name: 'key', in: 'path', required: true, schema: { type: 'string' }, description: `The primary key (${pk.join(', ')})${pk.length > 1 ? ': values joined by `,` in key order, each percent-encoded' : ''}` };
  const t = d.info.name;
  return {
    parameters: [key],
    get: {
      operationId: `get_${id}`,
      summary: `One row of ${t} by key, through the cache`,
      tags: ['tables'],
      parameters: [param('ConsistencyToken')],
      responses: {
        '200': { description: 'The row', headers: { ...READ_OK_HEADERS, 'Cache-Status': header('CacheStatus'), 'Sluice-Consistency-Token': header('ConsistencyToken') }, content: json(row) },
        ...problems('400', '401', '403', '404', '500', '503'),
      },
    },
    patch: { operationId: `update_${id}`, summary: `Set columns of one row of ${t}`, tags: ['tables'], parameters: [...WRITE_HEADERS, param('Select')], requestBody: { required: true, content: json(ref(`schemas/Update_${s}`)) }, responses: writeResponses('200', row) },
    delete: { operationId: `delete_${id}`, summary: `Delete one row of ${t}`, tags: ['tables'], parameters: [...WRITE_HEADERS, param('Select')], responses: writeResponses('200', row) },
  };
}

function getMany(d: DocTable, s: string, id: string): Schema {
  const row = ref(`schemas/Row_${s}`);
  const keys = { type: 'array', minItems: 1, items: { description: 'A key: a value (one-column keys), `[v1, v2]` in key order, or `{column: value}`' } };
  return {
    post: {
      operationId: `get_many_${id}`,
      summary: `Many rows of ${d.info.name} by key, in the order asked (null where none)`,
      tags: ['tables'],
      parameters: [param('ConsistencyToken')],
      requestBody: { required: true, content: json({ type: 'object', required: ['keys'], properties: { keys } }) },
      responses: {
        '200': { description: 'One entry per key', headers: READ_OK_HEADERS, content: json({ type: 'object', required: ['rows'], properties: { rows: arrayOf({ anyOf: [row, { type: 'null' }] }) } }) },
        ...problems('400', '401', '403', '404', '413', '415', '500', '503'),
      },
    },
  };
}

/** The paths of one table. */
export function tablePaths(d: DocTable): Record<string, Schema> {
  const { s, id } = names(d.info);
  const base = `/v1/tables/${encodeURIComponent(d.info.name)}`;
  return { [base]: collection(d, s, id), [`${base}/{key}`]: byKey(d, s, id), [`${base}/get`]: getMany(d, s, id) };
}

/** The schemas of one table: `Row_<t>`, `Insert_<t>`, `Update_<t>`. */
export function tableSchemas(t: TableInfo): Record<string, Schema> {
  const { s } = names(t);
  return { [`Row_${s}`]: rowSchema(t), [`Insert_${s}`]: insertSchema(t), [`Update_${s}`]: updateSchema(t) };
}

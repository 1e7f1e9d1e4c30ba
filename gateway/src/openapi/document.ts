import type { Schema } from '@sluice/shared/catalog/json-schema.ts';
import type { Catalog, TableInfo } from '@sluice/shared/catalog/types.ts';
import { adminViewPaths, viewPaths, viewSchemas } from './views.ts';
import { adminPaths, adminSchemas } from './admin.ts';
import { flagPaths, flagSchemas } from './flags.ts';
import { components, header, param } from './components.ts';
import { batchSchema, operationPaths } from './operations.ts';
import { tablePaths, tableSchemas } from './tables.ts';

/**
 * The OpenAPI 3.1 document of a gateway: every route, the exposed tables'
 * row schemas (built from the validator's own rules, shared/src/catalog/
 * json-schema.ts), every request and response header, a problem+json
 * response for every error status. Linted with Redocly's recommended rules
 * in CI and in test/gateway/openapi.document.test.ts.
 */

/** What the document is built from. */
export interface DocumentSource {
  catalog: Catalog;
  /** Columns a list may filter on with eq., per table (the read path's indexed columns). */
  indexed: (table: string) => readonly string[];
  version: string;
  /** Read models (viewTableInfo), if any. */
  views?: readonly TableInfo[];
}

const DESCRIPTION = [
  'Sluice, a write-forwarding batching gateway for PostgreSQL: writes are validated, queued and committed in micro-batches;',
  'reads come from the cache, a replica or the primary. Every error is application/problem+json (RFC 9457) with a request id.',
  'The table routes also take the common subset of PostgREST\'s syntax (postgrest-js works unchanged); see the README.',
].join(' ');

const TAGS = [
  { name: 'tables', description: 'Writes and reads of the exposed tables, `/v1/tables/<table>` (PostgREST\'s common subset included)' },
  { name: 'writes', description: 'Atomic multi-table batches and the status of a write' },
  { name: 'views', description: 'Read models (SLUICE_VIEWS_DIR): denormalized aggregates kept exact in every batch transaction, `/v1/views/<name>`' },
  { name: 'admin', description: 'Dead letters, partitions, shards and flags (scope `admin`)' },
  { name: 'flags', description: 'Feature flags: evaluation for any valid key, changes under `/v1/admin/flags`' },
  { name: 'health', description: 'Health checks, metrics and this document (no auth)' },
];

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];

/** Every operation takes `X-Request-Id` and every response carries it (middleware/request-id, before any route). */
function withRequestIds(paths: Record<string, Schema>): Record<string, Schema> {
  for (const item of Object.values(paths)) {
    for (const m of METHODS) {
      const op = item[m] as { parameters?: Schema[]; responses?: Record<string, Schema> } | undefined;
      if (op === undefined) continue;
      op.parameters = [...(op.parameters ?? []), param('RequestId')];
      for (const res of Object.values(op.responses ?? {})) {
        if (res.$ref !== undefined) continue; // the shared problem responses declare it themselves
        res.headers = { 'X-Request-Id': header('RequestId'), ...(res.headers as Schema | undefined) };
      }
    }
  }
  return paths;
}

/** Build the document. */
export function openApiDocument(src: DocumentSource): Schema {
  const paths: Record<string, Schema> = {};
  const schemas: Record<string, Schema> = {};
  for (const t of src.catalog.values()) {
    Object.assign(paths, tablePaths({ info: t, indexed: src.indexed(t.name) }));
    Object.assign(schemas, tableSchemas(t));
  }
  for (const v of src.views ?? []) {
    Object.assign(paths, viewPaths(v));
    Object.assign(schemas, viewSchemas(v));
  }
  const views = (src.views ?? []).length > 0 ? adminViewPaths() : {};
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice', version: src.version, description: DESCRIPTION },
    servers: [{ url: '/', description: 'This gateway, or the load balancer in front of the gateways' }],
    security: [{ bearer: [] }],
    tags: TAGS,
    paths: withRequestIds({ ...paths, ...operationPaths(), ...adminPaths(), ...flagPaths(), ...views }),
    components: components(schemas, { Batch: batchSchema([...src.catalog.keys()]), ...adminSchemas(), ...flagSchemas() }),
  };
}

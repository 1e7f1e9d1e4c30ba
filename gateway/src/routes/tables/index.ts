import type { Hono, MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../../context.ts';
import { readRows } from './list.ts';
import { multiGetRows, readableBeforeBody, readRow, type ReadRouteDeps } from './read.ts';
import { deleteRow, deleteRows, patchRow, patchRows, postRows, writableTable, type WriteRouteDeps } from './write.ts';

export type { ReadRouteDeps } from './read.ts';
export type { WriteRouteDeps } from './write.ts';

/**
 * The table resource, `/v1/tables/{table}[/{key}]`: one router for its reads
 * and writes, every route behind the same checks (guards.ts: exposed → scope
 * → key). Mount after the auth middleware (`/v1/*`) and before `app.onError`.
 *
 *   POST   /v1/tables/{table}            insert one row or many (Prefer: resolution=merge-duplicates upserts, ignore-duplicates skips)
 *   PATCH  /v1/tables/{table}?id=eq.1    set columns of the rows named by key (PostgREST: eq./in. on the key)
 *   DELETE /v1/tables/{table}?id=in.(…)  delete the rows named by key
 *   PATCH  /v1/tables/{table}/{key}      set columns of one row
 *   DELETE /v1/tables/{table}/{key}      delete one row
 *   GET    /v1/tables/{table}/{key}      one row, through the cache
 *   GET    /v1/tables/{table}?col=eq.v   a keyset page (`limit`, `after`); ?key=in.(…) many rows by key;
 *                                        PostgREST's select/eq/in/gt/lt/order/limit/offset subset (list.ts)
 *   POST   /v1/tables/{table}/get        many rows by key from `{"keys":[…]}`
 */
export function tableRoutes(app: Hono<GatewayEnv>, d: { writes: WriteRouteDeps; reads: ReadRouteDeps }): void {
  writeRoutes(app, d.writes);
  readRoutes(app, d.reads, d.writes.body);
}

/** The write half of the table resource. */
export function writeRoutes(app: Hono<GatewayEnv>, d: WriteRouteDeps): void {
  const writable = writableTable(d.validators);
  app.post('/v1/tables/:table', writable, d.body, postRows(d));
  app.patch('/v1/tables/:table', writable, d.body, patchRows(d));
  app.delete('/v1/tables/:table', writable, deleteRows(d));
  app.patch('/v1/tables/:table/:key', writable, d.body, patchRow(d));
  app.delete('/v1/tables/:table/:key', writable, deleteRow(d));
}

/** The read half of the table resource (`body` parses the JSON of `POST …/get`). */
export function readRoutes(app: Hono<GatewayEnv>, d: ReadRouteDeps, body: MiddlewareHandler<GatewayEnv>): void {
  app.get('/v1/tables/:table/:key', readRow(d));
  app.get('/v1/tables/:table', readRows(d));
  app.post('/v1/tables/:table/get', readableBeforeBody(d), body, multiGetRows(d));
}

import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../log/index.ts';

/**
 * All Postgres access goes through here (node-postgres style: one module owns
 * the driver). Pools always have a connection timeout, statement and
 * idle-in-transaction timeouts, and an 'error' listener: an idle client that
 * loses its server emits 'error' on the pool, and without a listener Node
 * would crash the process.
 */

export type { PoolClient, QueryResult, QueryResultRow } from 'pg';
export const { DatabaseError } = pg;
export type DatabaseError = pg.DatabaseError;

/** Anything with `query` (a Pool or a checked-out client). */
export interface Queryable {
  query<R extends pg.QueryResultRow = any>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface PoolOptions {
  url: string;
  max: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  /**
   * Client-side bound on one query (pg's `query_timeout`). Default: the
   * statement timeout plus half of it (at least one second more), so the
   * server's `statement_timeout` fires first whenever the server is alive.
   */
  queryTimeoutMs?: number;
  applicationName: string;
  log: Logger;
}

export type Pool = pg.Pool;

// int8 → string (the default) keeps 64-bit ids exact; numeric likewise.
export function createPool(o: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max,
    connectionTimeoutMillis: o.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: o.statementTimeoutMs,
    // A frozen server (SIGSTOP, a hung VM, a dead link without RST) never fires
    // its own statement_timeout: without a client-side bound a query would wait
    // forever. The error is "Query read timeout" (no SQLSTATE); the connection
    // must then be destroyed, not pooled (see `isQueryReadTimeout`).
    query_timeout: o.queryTimeoutMs ?? queryTimeoutFor(o.statementTimeoutMs),
    idle_in_transaction_session_timeout: o.statementTimeoutMs * 2,
    application_name: o.applicationName,
    keepAlive: true,
  });
  pool.on('error', (err) => {
    o.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle postgres client failed; it was removed from the pool');
  });
  // pg-pool's own listener is off a client while it is checked out: a
  // connection that ends between two queries of its holder (a terminated
  // backend, a primary killed mid-batch: the socket ends just after the
  // failed query, while a ROLLBACK is sent) would be an unhandled 'error'
  // event and end the process. The failing query reports it to the holder;
  // this listener, on every client for its whole life, only keeps the event
  // handled (test/writer/writer.flush-connection-ends-during-rollback.test.ts).
  pool.on('connect', (client) => {
    client.on('error', (err) => o.log.debug({ err: { message: err.message } }, 'postgres connection ended'));
  });
  return pool;
}

/** The client-side bound of longQuery: a day (a frozen server still ends it, eventually). */
const LONG_QUERY_TIMEOUT_MS = 86_400_000;

/**
 * Run one statement that may rightly take long (a full scan of a table: a
 * read model's backfill, rebuild or verify, after `SET LOCAL
 * statement_timeout = 0`) without the pool's client-side `query_timeout`,
 * which would end it at about 1.5 × SLUICE_STATEMENT_TIMEOUT_MS whatever the
 * server's setting ("Query read timeout": a view over a large table could
 * never be built). pg takes a per-query bound; 0 would mean the pool's.
 */
export function longQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(client: pg.PoolClient, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
  return client.query<R>({ text, ...(values === undefined ? {} : { values }), query_timeout: LONG_QUERY_TIMEOUT_MS } as pg.QueryConfig);
}

/** A fixed statement text with its prepared-statement name (`named`). */
export interface NamedStatement {
  readonly name: string;
  readonly text: string;
}

/**
 * Name a fixed statement text for preparation: node-postgres prepares a named
 * query once per connection, so Postgres parses and plans it once, not on
 * every execution (for a read model's fold, a plan was 0.3–1 ms per batch).
 * The name is a digest of the text: one name always means one text, on every
 * connection. A table renamed or swapped under it (a view rebuild) makes
 * Postgres re-plan it from the text. Build it once, where the text is built.
 */
export function named(text: string): NamedStatement {
  return { name: `sluice_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
}

/** The default client-side query bound for a statement timeout (see `PoolOptions.queryTimeoutMs`). */
export function queryTimeoutFor(statementTimeoutMs: number): number {
  return statementTimeoutMs + Math.max(1000, Math.round(statementTimeoutMs / 2));
}

/**
 * True for pg's client-side "Query read timeout": the server did not answer
 * within `query_timeout`. The query may still be running (or be applied, for a
 * COMMIT) when the server wakes up, and the connection is still busy with it.
 */
export function isQueryReadTimeout(err: unknown): boolean {
  // pg raises a plain Error with no code: its message is the only signal.
  return err instanceof Error && !(err instanceof pg.DatabaseError) && err.message === 'Query read timeout';
}

/** Run `fn` in one transaction on one checked-out client; `release(err)` drops a broken connection. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  // A connection that ends mid-transaction: the client's 'error' event is handled by createPool's listener.
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    client.release();
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (rollbackErr) {
      client.release(rollbackErr as Error);
    }
    throw err;
  }
}

/** SQLSTATE of a driver error, or undefined for non-database errors. */
export function sqlstateOf(err: unknown): string | undefined {
  if (err instanceof pg.DatabaseError) return err.code;
  return undefined;
}

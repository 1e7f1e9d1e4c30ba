import { DatabaseError } from '@sluice/shared/db/pool.ts';
import { FailoverError } from '../confirm/errors.ts';

/**
 * What to do when a flush fails, by SQLSTATE (PostgreSQL Appendix A):
 * - `retry`: the database or the connection is having a moment; the same
 *   batch is retried, in the same order, with jittered exponential backoff.
 * - `poison`: the data of some request is at fault; the batch is bisected with
 *   savepoints until the guilty requests are found and dead-lettered.
 * - `fatal`: anything else (a bug, a broken schema, disk I/O); retried a few
 *   times, then the jobs fail through BullMQ and stay in its failed set.
 */
export type FailureKind = 'retry' | 'poison' | 'fatal';

const RETRY_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected (e.g. two writers claiming the same job ids)
  '55P03', // lock_not_available
  '57014', // query_canceled: statement_timeout fired (a lock wait); after bounded retries a lone request is blamed (flush.ts blameableIn)
  '57P01', // admin_shutdown: the server is stopping (pg_ctl stop, failover)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting or in recovery
  '25P03', // idle_in_transaction_session_timeout: the session was terminated
  '25006', // read_only_sql_transaction: the address leads to a standby (mid-failover, or a demoted primary)
]);

const POISON_CODES = new Set([
  '21000', // cardinality_violation: one request touched a row twice in one statement
  '44000', // with_check_option_violation
  'P0001', // raise_exception from a user trigger
]);

/**
 * Node-level errors of a lost or refused connection. pg gives these no
 * SQLSTATE; `code` is the errno when there is one.
 */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

// pg and pg-pool raise plain Errors without any code for a dropped connection,
// a pool checkout timeout or a client-side query timeout (a frozen server:
// `query_timeout`, see shared/src/db); their message text is the only signal.
// "Cannot use a pool after calling end": this process is closing its pools (a
// drain that overran its bound, writer/src/drain.ts). Not the batch's fault:
// its jobs must stay taken and reach the next writer, never fail for good.
const CONNECTION_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Query read timeout|Cannot use a pool after calling end/i;

/** Classify a flush error (see {@link FailureKind}). */
export function classify(err: unknown): FailureKind {
  if (err instanceof DatabaseError) return classifySqlstate(err.code ?? '');
  // The commit's server is gone or was replaced (confirm/errors.ts): flush again where the address leads now.
  if (err instanceof FailoverError) return 'retry';
  // A hook's error that says the batch will succeed later, unchanged (views/maintainer.ts ViewRedefinedError).
  if (err instanceof Error && (err as { retryable?: unknown }).retryable === true) return 'retry';
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'retry';
    if (CONNECTION_MESSAGES.test(err.message)) return 'retry';
  }
  return 'fatal';
}

/** Classify a SQLSTATE alone. */
export function classifySqlstate(code: string): FailureKind {
  if (RETRY_CODES.has(code)) return 'retry';
  const cls = code.slice(0, 2);
  // 08: connection exceptions; 53: insufficient resources (53300 too_many_connections, 53100 disk full).
  if (cls === '08' || cls === '53') return 'retry';
  // 22: data exceptions (22001 too long, 22021 bad encoding / NUL, 22P02 bad input syntax);
  // 23: integrity constraints (23505 unique, 23503 foreign key, 23514 check, 23502 not null);
  // 42: syntax or access rule (42703 undefined column, 428C9 generated always).
  if (cls === '22' || cls === '23' || cls === '42') return 'poison';
  if (POISON_CODES.has(code)) return 'poison';
  return 'fatal';
}

/** SQLSTATE of an error for metrics and logs: the code, or a stable stand-in. */
export function errorCode(err: unknown): string {
  if (err instanceof DatabaseError) return err.code ?? 'unknown';
  if (err instanceof FailoverError) return 'failover';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  return classify(err) === 'retry' ? 'connection' : 'other';
}

/** @sluice/client: a typed Node client for Sluice's HTTP API. */
export { SluiceClient, BatchingClient } from './client.ts';
export { Session, type SessionOptions } from './session.ts';
export { Pages, SluiceApi, type InsertOf, type RowOf, type UpdateOf } from './api.ts';
export type { BatchingOptions, ClientOptions, RetryEvent } from './core.ts';
export type { FetchLike } from './transport.ts';
export { DEFAULT_RETRY, backoffMs, parseRetryAfter, retryDelayMs, type RetryPolicy } from './retry.ts';
export { MAIN_SHARD, compareLsn, formatToken, mergeTokenTexts, parseLsn, parseToken, TokenTracker } from './token.ts';
export {
  SluiceDeadLetteredError,
  SluiceError,
  SluiceNetworkError,
  SluiceOutcomeUnknownError,
  SluiceProblemError,
  SluiceUnavailableError,
  SluiceValidationError,
  parseProblem,
  problemError,
  type ErrorKind,
  type FieldError,
  type Outcome,
  type Problem,
} from './errors.ts';
export type * from './types.ts';

/**
 * One error family for everything a client can be told. `onError` in the
 * gateway maps an AppError to RFC 9457 problem+json; anything else is a 500
 * with a generic detail (the cause is logged, never sent).
 */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly status: number,
    /** Stable problem type, a URI reference (RFC 9457 §3.1.1). */
    readonly type: string,
    readonly title: string,
    detail?: string,
    /** Extra members merged into the problem object (e.g. `errors`, `writeId`). */
    readonly extensions: Readonly<Record<string, unknown>> = {},
    /** Response headers the problem needs, e.g. `Retry-After`. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail ?? title);
  }
  get detail(): string {
    return this.message;
  }
}

const T = (slug: string) => `https://sluice.dev/problems/${slug}`;

/** One failed check on an input row, located by a JSON Pointer (RFC 6901). */
export interface FieldError {
  pointer: string;
  detail: string;
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  constructor(detail: string, readonly errors: readonly FieldError[] = []) {
    super(400, T('validation'), 'Invalid request', detail, errors.length > 0 ? { errors } : {});
  }
}
/**
 * A problem type whose instances differ only in their detail: the shape of
 * most of the classes below (a stable `name` to branch on, one status, one
 * type URI, one title).
 */
function problemType(name: string, status: number, slug: string, title: string) {
  return class extends AppError {
    override name = name;
    constructor(detail: string) {
      super(status, T(slug), title, detail);
    }
  };
}

export class MalformedBodyError extends problemType('MalformedBodyError', 400, 'malformed-body', 'Malformed request body') {}
export class UnsupportedMediaTypeError extends problemType('UnsupportedMediaTypeError', 415, 'unsupported-media-type', 'Unsupported media type') {
  constructor(detail = 'request body must be application/json') {
    super(detail);
  }
}
export class PayloadTooLargeError extends problemType('PayloadTooLargeError', 413, 'payload-too-large', 'Payload too large') {}
export class NotFoundError extends problemType('NotFoundError', 404, 'not-found', 'Not found') {}
export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
  constructor(detail = 'missing or invalid API key') {
    // RFC 6750 §3: a 401 for bearer auth carries WWW-Authenticate.
    super(401, T('unauthorized'), 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="sluice"' });
  }
}
export class ForbiddenError extends problemType('ForbiddenError', 403, 'forbidden', 'Forbidden') {}
export class IdempotencyMismatchError extends AppError {
  override name = 'IdempotencyMismatchError';
  constructor() {
    // draft-ietf-httpapi-idempotency-key-header §2.7: key reused with another payload → 422.
    super(422, T('idempotency-key-mismatch'), 'Idempotency-Key reused', 'this Idempotency-Key was already used with a different request body');
  }
}
export class IdempotencyInFlightError extends AppError {
  override name = 'IdempotencyInFlightError';
  constructor() {
    // Same draft §2.7: a concurrent request with the same key → 409.
    super(409, T('idempotency-key-in-flight'), 'Request in progress', 'a request with this Idempotency-Key is still being processed', {}, { 'Retry-After': '1' });
  }
}
export class DeadLetteredError extends AppError {
  override name = 'DeadLetteredError';
  constructor(writeId: string, sqlstate: string, message: string, extra: Record<string, unknown> = {}) {
    super(422, T('dead-lettered'), 'Write rejected by the database', message, { writeId, sqlstate, ...extra });
  }
}
export class UnavailableError extends AppError {
  override name = 'UnavailableError';
  constructor(detail: string, retryAfterSeconds = 1) {
    super(503, T('unavailable'), 'Service unavailable', detail, {}, { 'Retry-After': String(retryAfterSeconds) });
  }
}
export class CommitTimeoutError extends AppError {
  override name = 'CommitTimeoutError';
  constructor(writeId: string, waitedMs: number) {
    super(504, T('commit-timeout'), 'Not committed in time', `the write is queued but did not commit within ${waitedMs} ms; poll /v1/writes/${writeId}`, { writeId, writeStatus: 'queued' });
  }
}
/** A read model that cannot answer yet: being built (first start, or redefined from a changed file). RFC 9110 §10.2.3 Retry-After. */
export class ViewBuildingError extends AppError {
  override name = 'ViewBuildingError';
  constructor(view: string, state: string, retryAfterSeconds: number) {
    super(503, T('view-building'), 'Read model not ready', `view ${view} is ${state}: it answers once its build from the base table has finished`, { view, state }, { 'Retry-After': String(retryAfterSeconds) });
  }
}
/** A request that conflicts with the resource's current state (409). */
export class ConflictError extends problemType('ConflictError', 409, 'conflict', 'Conflict') {}

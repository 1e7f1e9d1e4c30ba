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
export class MalformedBodyError extends AppError {
  override name = 'MalformedBodyError';
  constructor(detail: string) {
    super(400, T('malformed-body'), 'Malformed request body', detail);
  }
}
export class UnsupportedMediaTypeError extends AppError {
  override name = 'UnsupportedMediaTypeError';
  constructor(detail = 'request body must be application/json') {
    super(415, T('unsupported-media-type'), 'Unsupported media type', detail);
  }
}
export class PayloadTooLargeError extends AppError {
  override name = 'PayloadTooLargeError';
  constructor(detail: string) {
    super(413, T('payload-too-large'), 'Payload too large', detail);
  }
}
export class NotFoundError extends AppError {
  override name = 'NotFoundError';
  constructor(detail: string) {
    super(404, T('not-found'), 'Not found', detail);
  }
}
export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
  constructor(detail = 'missing or invalid API key') {
    // RFC 6750 §3: a 401 for bearer auth carries WWW-Authenticate.
    super(401, T('unauthorized'), 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="sluice"' });
  }
}
export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
  constructor(detail: string) {
    super(403, T('forbidden'), 'Forbidden', detail);
  }
}
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

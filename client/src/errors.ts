/**
 * Errors the client throws. Branch on the class, on `kind` or on `outcome`,
 * never on the message:
 *   outcome 'failed'   the write was not applied and never will be;
 *   outcome 'unknown'  it may or may not have been applied (at most once:
 *                      every attempt carried the same Idempotency-Key).
 * Answers of the gateway carry its RFC 9457 problem object.
 */

/** What went wrong, coarsely, for callers that branch. */
export type ErrorKind =
  | 'validation'
  | 'auth'
  | 'not-found'
  | 'conflict'
  | 'dead-lettered'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'http';

/** Whether the write may have been applied. */
export type Outcome = 'failed' | 'unknown';

/** RFC 9457 problem details, with any extension members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Base of every error of this client. */
export class SluiceError extends Error {
  override name = 'SluiceError';
  /** The writeId, when the gateway named one. */
  writeId: string | undefined;
  constructor(
    message: string,
    readonly kind: ErrorKind,
    /** For writes: 'failed' = not applied; 'unknown' = may have been applied. Reads always 'failed'. */
    readonly outcome: Outcome,
    options?: { cause?: unknown; writeId?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.writeId = options?.writeId;
  }
}

const PROBLEMS = 'https://sluice.dev/problems/';

function kindOf(status: number, type: string): ErrorKind {
  if (type === `${PROBLEMS}dead-lettered`) return 'dead-lettered';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 409 || status === 422) return 'conflict';
  if (status === 503 || status === 429) return 'unavailable';
  if (status === 504) return 'timeout';
  if (status >= 400 && status < 500) return 'validation';
  return 'http';
}

/** An answer of the gateway (or a proxy) with an error status. */
export class SluiceProblemError extends SluiceError {
  override name = 'SluiceProblemError';
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly instance: string | undefined;
  /** The gateway's request id, for its logs. */
  readonly requestId: string | undefined;
  /** The whole problem object, extension members included. */
  readonly problem: Problem;
  constructor(problem: Problem, outcome: Outcome = 'failed') {
    super(problem.detail ?? problem.title, kindOf(problem.status, problem.type), outcome, {
      ...(typeof problem.writeId === 'string' ? { writeId: problem.writeId } : {}),
    });
    this.problem = problem;
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.instance = problem.instance;
    this.requestId = typeof problem.requestId === 'string' ? problem.requestId : undefined;
  }
  /** An extension member of the problem object. */
  get(member: string): unknown {
    return this.problem[member];
  }
}

/** One located field error of a 400. */
export interface FieldError {
  pointer: string;
  detail: string;
}

/** 400 / 413 / 415 and other refusals of the request itself. Nothing was applied. */
export class SluiceValidationError extends SluiceProblemError {
  override name = 'SluiceValidationError';
  /** Field errors with JSON Pointers into the body (`/1/amount`). */
  get errors(): FieldError[] {
    return Array.isArray(this.problem.errors) ? (this.problem.errors as FieldError[]) : [];
  }
}

/** 422 dead-lettered: the database refused the write; it was never applied. */
export class SluiceDeadLetteredError extends SluiceProblemError {
  override name = 'SluiceDeadLetteredError';
  get sqlstate(): string | undefined {
    return typeof this.problem.sqlstate === 'string' ? this.problem.sqlstate : undefined;
  }
  get constraint(): string | undefined {
    return typeof this.problem.constraint === 'string' ? this.problem.constraint : undefined;
  }
}

/** 503 (or 429): nothing was accepted by that attempt. */
export class SluiceUnavailableError extends SluiceProblemError {
  override name = 'SluiceUnavailableError';
  /** `writeStatus: "unknown"`: the gateway sent the job but Redis did not confirm it. */
  get unconfirmed(): boolean {
    return this.problem.writeStatus === 'unknown';
  }
}

/** No answer: the connection failed, was cut, or the attempt timed out. */
export class SluiceNetworkError extends SluiceError {
  override name = 'SluiceNetworkError';
  constructor(
    message: string,
    /** False only when the request certainly never left (connection refused, DNS). */
    readonly sent: boolean,
    timedOut: boolean,
    cause?: unknown,
  ) {
    super(message, timedOut ? 'timeout' : 'network', sent ? 'unknown' : 'failed', { cause });
  }
}

/**
 * The deadline passed before the write's outcome was known: it may have been
 * applied (once) or not. `cause` is the last error; `writeId` is set when the
 * gateway named one (poll `writeStatus` to learn more later).
 */
export class SluiceOutcomeUnknownError extends SluiceError {
  override name = 'SluiceOutcomeUnknownError';
  constructor(
    readonly attempts: number,
    last: unknown,
    writeId: string | undefined,
  ) {
    const why = last instanceof Error ? last.message : 'deadline passed';
    super(`outcome unknown after ${attempts} attempt(s)${writeId ? ` (writeId ${writeId})` : ''}: ${why}`, last instanceof SluiceError ? last.kind : 'timeout', 'unknown', {
      cause: last,
      ...(writeId !== undefined ? { writeId } : {}),
    });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The problem object of an error answer: the body when it is a JSON object
 * (RFC 9457 members defaulted: `type` about:blank, `title`, `status`), else a
 * synthesized one whose detail is the start of the body (a proxy's HTML page).
 */
export function parseProblem(status: number, body: string, statusText = ''): Problem {
  let parsed: unknown;
  try {
    parsed = body === '' ? undefined : JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const title = statusText || `HTTP ${status}`;
  if (!isObject(parsed)) {
    const detail = body.trim().slice(0, 200);
    return { type: 'about:blank', title, status, ...(detail ? { detail } : {}) };
  }
  return {
    ...parsed,
    type: typeof parsed.type === 'string' ? parsed.type : 'about:blank',
    title: typeof parsed.title === 'string' ? parsed.title : title,
    // RFC 9457 §3.1.2: the HTTP status code wins over a wrong member.
    status,
    ...(typeof parsed.detail === 'string' ? { detail: parsed.detail } : {}),
  };
}

/** The error class for a problem answer. */
export function problemError(problem: Problem, outcome: Outcome = 'failed'): SluiceProblemError {
  switch (kindOf(problem.status, problem.type)) {
    case 'dead-lettered':
      return new SluiceDeadLetteredError(problem, outcome);
    case 'unavailable':
      return new SluiceUnavailableError(problem, outcome);
    case 'validation':
      return new SluiceValidationError(problem, outcome);
    default:
      return new SluiceProblemError(problem, outcome);
  }
}

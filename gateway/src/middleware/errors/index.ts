import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AppError, NotFoundError } from '@sluice/shared/errors/index.ts';
import { type Logger } from '@sluice/shared/log/index.ts';
import type { Ctx, GatewayEnv } from '../../context.ts';

/** RFC 9457 media type of every error response. */
export const PROBLEM_JSON = 'application/problem+json';

/** Render an AppError as an RFC 9457 problem document, with the error's headers. */
export function problemResponse(c: Ctx, err: AppError): Response {
  // Extensions first: a member like CommitTimeoutError's `status: 'queued'` must not
  // replace the standard members (RFC 9457 §3.1: `status` is the HTTP status code).
  const problem = {
    ...err.extensions,
    type: err.type,
    title: err.title,
    status: err.status,
    detail: err.detail,
    instance: c.req.path,
    requestId: c.get('requestId'),
  };
  for (const name in err.headers) c.header(name, err.headers[name]);
  c.header('Content-Type', PROBLEM_JSON);
  return c.body(JSON.stringify(problem), err.status as 400);
}

/** Hono's own HTTPExceptions (e.g. from built-in middleware) as problems. */
function fromHttpException(e: HTTPException): AppError {
  return new AppError(e.status, `https://sluice.dev/problems/http-${e.status}`, e.message || 'HTTP error', e.message || undefined);
}

const INTERNAL = new AppError(500, 'https://sluice.dev/problems/internal', 'Internal server error', 'an unexpected error occurred; it has been logged with the request id');

/**
 * The one error mapper: AppError → its problem; anything else → 500 with a
 * generic detail, the cause logged (never sent: it may hold SQL or secrets).
 */
export function problemErrors(log: Logger): ErrorHandler<GatewayEnv> {
  return function onError(err, c) {
    if (err instanceof AppError) return problemResponse(c, err);
    if (err instanceof HTTPException) return problemResponse(c, fromHttpException(err));
    log.error({ err, requestId: c.get('requestId'), method: c.req.method, path: c.req.path }, 'unhandled error');
    return problemResponse(c, INTERNAL);
  };
}

/** 404 for every path no route matches, as a problem document. */
export function problemNotFound(): NotFoundHandler<GatewayEnv> {
  return function notFound(c) {
    return problemResponse(c, new NotFoundError(`no route for ${c.req.method} ${c.req.path}`));
  };
}

/** RFC 9457 problem parsing and the error classes callers branch on. */
import { describe, expect, it } from 'vitest';
import {
  SluiceDeadLetteredError,
  SluiceProblemError,
  SluiceUnavailableError,
  SluiceValidationError,
  parseProblem,
  problemError,
} from '@sluice/client';

describe('problem parsing', () => {
  it('keeps the members and extension members of a problem+json body', () => {
    const body = JSON.stringify({ type: 'https://sluice.dev/problems/validation', title: 'Invalid request', status: 400, detail: '1 invalid value(s)', requestId: 'r1', errors: [{ pointer: '/amount', detail: 'expected an integer' }] });
    const err = problemError(parseProblem(400, body));
    expect(err).toBeInstanceOf(SluiceValidationError);
    expect(err).toMatchObject({ status: 400, type: 'https://sluice.dev/problems/validation', title: 'Invalid request', detail: '1 invalid value(s)', requestId: 'r1', kind: 'validation', outcome: 'failed' });
    expect((err as SluiceValidationError).errors).toEqual([{ pointer: '/amount', detail: 'expected an integer' }]);
    expect(err.message).toBe('1 invalid value(s)');
  });

  it('defaults type to about:blank and lets the HTTP status win (RFC 9457 §3.1)', () => {
    expect(parseProblem(502, '<html>Bad Gateway</html>', 'Bad Gateway')).toEqual({ type: 'about:blank', title: 'Bad Gateway', status: 502, detail: '<html>Bad Gateway</html>' });
    expect(parseProblem(503, '', '')).toEqual({ type: 'about:blank', title: 'HTTP 503', status: 503 });
    expect(parseProblem(409, '{"title":"x","status":200}')).toMatchObject({ type: 'about:blank', title: 'x', status: 409 });
    expect(parseProblem(500, '[1,2]')).toMatchObject({ type: 'about:blank', status: 500 });
  });

  it('makes a class per kind so callers branch without reading text', () => {
    const dead = problemError(parseProblem(422, JSON.stringify({ type: 'https://sluice.dev/problems/dead-lettered', title: 'Write rejected by the database', status: 422, detail: 'new row violates check constraint', writeId: 'p1.abc.1.0', sqlstate: '23514', constraint: 'amount_check' })));
    expect(dead).toBeInstanceOf(SluiceDeadLetteredError);
    expect(dead).toMatchObject({ kind: 'dead-lettered', writeId: 'p1.abc.1.0', sqlstate: '23514', constraint: 'amount_check' });

    const unconfirmed = problemError(parseProblem(503, JSON.stringify({ type: 'https://sluice.dev/problems/enqueue-unconfirmed', title: 'Write not confirmed', status: 503, writeId: 'p2.x.1.0', writeStatus: 'unknown' })), 'unknown');
    expect(unconfirmed).toBeInstanceOf(SluiceUnavailableError);
    expect(unconfirmed).toMatchObject({ kind: 'unavailable', outcome: 'unknown', unconfirmed: true, writeId: 'p2.x.1.0' });

    const mismatch = problemError(parseProblem(422, JSON.stringify({ type: 'https://sluice.dev/problems/idempotency-key-mismatch', title: 'Idempotency-Key reused', status: 422 })));
    expect(mismatch).toBeInstanceOf(SluiceProblemError);
    expect(mismatch).not.toBeInstanceOf(SluiceDeadLetteredError);
    expect(mismatch.kind).toBe('conflict');

    expect(problemError(parseProblem(403, '{}')).kind).toBe('auth');
    expect(problemError(parseProblem(404, '{}')).kind).toBe('not-found');
    expect(problemError(parseProblem(504, '{}')).kind).toBe('timeout');
    expect(problemError(parseProblem(413, '{}'))).toBeInstanceOf(SluiceValidationError);
    expect(problemError(parseProblem(500, '{}')).kind).toBe('http');
  });
});

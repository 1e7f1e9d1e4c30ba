/**
 * One write, retried until its outcome is known or the deadline passes.
 * Every attempt carries the same Idempotency-Key, so the gateway replays or
 * the writer deduplicates whatever an earlier attempt already did: retries
 * are safe, and a write is applied at most once.
 *
 * Per answer:
 *   2xx                     done (202 queued; 200/201 committed)
 *   503 / 429 / 408         not accepted by this attempt: wait Retry-After (or backoff), retry
 *   503 writeStatus unknown Redis may hold the job: retry (the server dedupes), outcome now ambiguous
 *   409 key in flight       an earlier attempt of ours is still running: wait Retry-After, retry
 *   504                     queued, commit not seen in time: poll GET /v1/writes/{id}
 *   other 5xx, no answer    may have been applied: retry
 *   other 4xx               failed: never retried
 * Past the deadline: the last refusal if no attempt can have been applied
 * (outcome 'failed'), else SluiceOutcomeUnknownError (outcome 'unknown').
 */
import type { Core } from './core.ts';
import { SluiceError, SluiceNetworkError, SluiceOutcomeUnknownError, parseProblem, problemError, type Problem } from './errors.ts';
import { Deadline, backoffMs, parseRetryAfter, retryDelayMs, sleep } from './retry.ts';
import { committedFromStatus, deadLetteredFromStatus, lookWriteStatus } from './status.ts';
import type { WireResponse } from './transport.ts';
import type { Ack, Committed, WriteResult } from './types.ts';

/** A write as it goes on the wire. */
export interface WireWrite {
  method: 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: string;
  /** Extra request headers (e.g. `Prefer`). */
  headers?: Record<string, string>;
  ack: Ack;
  idempotencyKey: string;
}

/** What the attempts so far tell. */
interface Attempts {
  n: number;
  /** Some attempt may have been applied (sent without a definite answer, or queued). */
  ambiguous: boolean;
  writeId: string | undefined;
  last: unknown;
}

type Step = { done: WriteResult } | { retryAfterMs: number | undefined } | { poll: string } | { check: string; retryAfterMs: number | undefined };

const IN_FLIGHT = 'https://sluice.dev/problems/idempotency-key-in-flight';

/** Send `w` until done, failed or out of time. */
export async function executeWrite(core: Core, w: WireWrite): Promise<WriteResult> {
  const deadline = new Deadline(core.retry.deadlineMs);
  const st: Attempts = { n: 0, ambiguous: false, writeId: undefined, last: undefined };
  const headers = { 'content-type': 'application/json', 'sluice-ack': w.ack, 'idempotency-key': w.idempotencyKey, ...w.headers };
  for (let retry = 0; ; retry++) {
    const remaining = deadline.remaining();
    if (remaining <= 0) throw giveUp(st);
    st.n++;
    let step: Step;
    let status = 0;
    try {
      const res = await core.send({ method: w.method, path: w.path, headers, ...(w.body !== undefined ? { body: w.body } : {}), timeoutMs: Math.min(core.timeoutMs, remaining) });
      status = res.status;
      step = judge(res, st);
    } catch (err) {
      if (!(err instanceof SluiceNetworkError)) throw err;
      st.last = err;
      st.ambiguous ||= err.sent;
      step = { retryAfterMs: undefined };
    }
    if ('done' in step) return step.done;
    if ('check' in step) {
      const settled = await checkStatus(core, w.ack, step.check, deadline, st);
      if (settled !== null) return settled;
    } else if ('poll' in step) {
      const polled = await awaitCommit(core, step.poll, deadline, st);
      if (polled !== null) return polled;
      step = { retryAfterMs: undefined }; // the gateway forgot the id: resend with the same key
    }
    const delayMs = retryDelayMs(retry, step.retryAfterMs, core.retry);
    if (!deadline.allows(delayMs)) throw giveUp(st);
    core.onRetry?.({ method: w.method, path: w.path, retry: retry + 1, delayMs, status, writeId: st.writeId });
    await sleep(delayMs);
  }
}

/** Classify one answer; throws when it is final and not a success. */
function judge(res: WireResponse, st: Attempts): Step {
  if (res.status >= 200 && res.status < 300) return { done: parseResult(res) };
  const problem = parseProblem(res.status, res.body, res.statusText);
  const writeId = typeof problem.writeId === 'string' ? problem.writeId : undefined;
  if (writeId !== undefined) st.writeId = writeId;
  const retryAfterMs = parseRetryAfter(res.header('retry-after'));
  switch (res.status) {
    case 504:
      st.ambiguous = true; // queued: it will be applied unless the database refuses it
      st.last = problemError(problem, 'unknown');
      return writeId === undefined ? { retryAfterMs } : { poll: writeId };
    case 503:
    case 429:
    case 408:
      if (problem.writeStatus === 'unknown') st.ambiguous = true;
      st.last = problemError(problem, st.ambiguous ? 'unknown' : 'failed');
      return { retryAfterMs };
    case 409:
      if (problem.type !== IN_FLIGHT) throw final(problem, st);
      st.ambiguous = true; // only an earlier attempt of ours can hold our key
      st.last = problemError(problem, 'unknown');
      // That attempt named its write (503 unconfirmed): its status may settle it. A key whose
      // claim outlived its request (Redis died before the gateway released it) answers 409
      // until the claim expires, whatever became of the write.
      return st.writeId === undefined ? { retryAfterMs } : { check: st.writeId, retryAfterMs };
  }
  if (res.status >= 500) {
    st.ambiguous = true;
    st.last = problemError(problem, 'unknown');
    return { retryAfterMs };
  }
  throw final(problem, st);
}

/**
 * A 4xx that ends the write. 400/413/415/422 depend only on the body (the
 * same in every attempt) or say the write is dead: it was never applied.
 * An auth or routing refusal after an ambiguous attempt says nothing about
 * that attempt: the outcome stays unknown.
 */
function final(problem: Problem, st: Attempts): SluiceError {
  const aboutTheBody = problem.status === 400 || problem.status === 413 || problem.status === 415 || problem.status === 422;
  if (st.ambiguous && !aboutTheBody) return new SluiceOutcomeUnknownError(st.n, problemError(problem, 'unknown'), st.writeId);
  return problemError(problem, 'failed');
}

function giveUp(st: Attempts): SluiceError {
  if (st.ambiguous) return new SluiceOutcomeUnknownError(st.n, st.last, st.writeId);
  if (st.last instanceof SluiceError) return st.last;
  return new SluiceError('the deadline passed before the first attempt', 'timeout', 'failed');
}

function parseResult(res: WireResponse): WriteResult {
  let b: Partial<Committed> & { writeId: string };
  try {
    b = JSON.parse(res.body) as Partial<Committed> & { writeId: string };
  } catch (err) {
    // Accepted, but the answer is unreadable (not the gateway's?): it may well have been applied.
    throw new SluiceError(`HTTP ${res.status} with a body that is not JSON`, 'http', 'unknown', { cause: err });
  }
  if (res.status === 202) return { writeId: b.writeId, status: 'queued' };
  return {
    writeId: b.writeId,
    status: 'committed',
    token: b.token ?? res.header('sluice-consistency-token') ?? '',
    keys: b.keys ?? [],
    affected: b.affected ?? [],
    ...(b.committedAt !== undefined ? { committedAt: b.committedAt } : {}),
    replayed: res.header('idempotent-replayed') === 'true' || b.affected === undefined,
  };
}

/**
 * One look at the status of a write an earlier attempt named: queued counts
 * as done for a `queued` ack (as a 202 would have), committed as done,
 * dead as failed; null when it settles nothing (unknown id, status route down).
 */
async function checkStatus(core: Core, ack: Ack, writeId: string, deadline: Deadline, st: Attempts): Promise<WriteResult | null> {
  let found;
  try {
    found = await lookWriteStatus(core, writeId, Math.min(core.timeoutMs, Math.max(1, deadline.remaining())));
  } catch (err) {
    if (err instanceof SluiceError) return null;
    throw err;
  }
  if (found === null) return null;
  const s = found.status;
  if (s.status === 'committed') return committedFromStatus(s);
  if (s.status === 'dead') throw deadLetteredFromStatus(s);
  return ack === 'queued' ? { writeId, status: 'queued' } : awaitCommit(core, writeId, deadline, st);
}

/**
 * After a 504 the write is queued: poll its status until committed (done),
 * dead (failed) or the deadline (unknown). Null: the gateway does not know
 * the id (its record expired, or Redis lost the job) — resend with the same key.
 */
async function awaitCommit(core: Core, writeId: string, deadline: Deadline, st: Attempts): Promise<Committed | null> {
  const pace = { baseMs: core.retry.baseMs, maxMs: Math.min(core.retry.maxMs, 1000) };
  for (let i = 0; ; i++) {
    const delayMs = backoffMs(i, pace);
    if (!deadline.allows(delayMs)) throw giveUp(st);
    await sleep(delayMs);
    try {
      const found = await lookWriteStatus(core, writeId, Math.min(core.timeoutMs, Math.max(1, deadline.remaining())));
      if (found === null) return null;
      if (found.status.status === 'committed') return committedFromStatus(found.status);
      if (found.status.status === 'dead') throw deadLetteredFromStatus(found.status);
    } catch (err) {
      if (!(err instanceof SluiceError) || err.kind === 'dead-lettered') throw err;
      st.last = err; // the status route itself failed: keep polling
    }
  }
}

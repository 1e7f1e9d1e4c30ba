/**
 * Reads: one row by key, many by key, keyset pages of a list, and write
 * statuses. Reads change nothing, so every one of them is retried on no
 * answer, 502/503/504, 429 and 408 until the deadline; other answers are
 * final. Each returns the `Sluice-Consistency-Token` the gateway sent, for a
 * session to keep (monotonic reads).
 */
import { toJson, type Core } from './core.ts';
import { SluiceError, SluiceNetworkError, parseProblem, problemError } from './errors.ts';
import { Deadline, parseRetryAfter, retryDelayMs, sleep } from './retry.ts';
import { lookWriteStatus } from './status.ts';
import type { WireRequest, WireResponse } from './transport.ts';
import type { Key, Page, WriteStatus } from './types.ts';
import { keySegment, tablePath } from './wire.ts';

const RETRIED = new Set([408, 429, 502, 503, 504]);

/** A read's answer and the token it carried. */
export interface Read<V> {
  value: V;
  token: string | undefined;
}

/** Send a read until it gets an answer that is not worth retrying. */
async function executeRead(core: Core, r: Omit<WireRequest, 'timeoutMs'>): Promise<WireResponse> {
  const deadline = new Deadline(core.retry.deadlineMs);
  let last: unknown;
  for (let retry = 0; ; retry++) {
    const remaining = deadline.remaining();
    let retryAfterMs: number | undefined;
    let status = 0;
    if (remaining > 0) {
      try {
        const res = await core.send({ ...r, timeoutMs: Math.min(core.timeoutMs, remaining) });
        if (!RETRIED.has(res.status)) return res;
        status = res.status;
        last = problemError(parseProblem(res.status, res.body, res.statusText));
        retryAfterMs = parseRetryAfter(res.header('retry-after'));
      } catch (err) {
        if (!(err instanceof SluiceNetworkError)) throw err;
        last = err;
      }
    }
    const delayMs = retryDelayMs(retry, retryAfterMs, core.retry);
    if (remaining <= 0 || !deadline.allows(delayMs)) {
      // A read changed nothing: whatever happened, its outcome is "failed".
      if (last instanceof SluiceNetworkError) throw new SluiceNetworkError(last.message, false, last.kind === 'timeout', last);
      throw last ?? new SluiceError('the deadline passed before the first attempt', 'timeout', 'failed');
    }
    core.onRetry?.({ method: r.method, path: r.path, retry: retry + 1, delayMs, status, writeId: undefined });
    await sleep(delayMs);
  }
}

function tokenHeader(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { 'sluice-consistency-token': token };
}

function fail(res: WireResponse): never {
  throw problemError(parseProblem(res.status, res.body, res.statusText));
}

/** `GET /v1/tables/{table}/{key}`: the row, or null (404 for a row of an exposed table). */
export async function readRow<R>(core: Core, table: string, key: Key, token: string | undefined): Promise<Read<R | null>> {
  const res = await executeRead(core, { method: 'GET', path: `${tablePath(table)}/${keySegment(key)}`, headers: tokenHeader(token) });
  const seen = res.header('sluice-consistency-token');
  if (res.status === 200) return { value: JSON.parse(res.body) as R, token: seen };
  // A missing row and a missing table are both 404; only a row lookup that ran says where it looked.
  if (res.status === 404 && res.header('sluice-source') !== undefined) return { value: null, token: seen };
  fail(res);
}

/** `POST /v1/tables/{table}/get`: rows in the order asked, null where none. */
export async function readMany<R>(core: Core, table: string, keys: readonly unknown[], token: string | undefined): Promise<Read<(R | null)[]>> {
  const body = toJson({ keys });
  const res = await executeRead(core, { method: 'POST', path: `${tablePath(table)}/get`, headers: { 'content-type': 'application/json', ...tokenHeader(token) }, body });
  if (res.status !== 200) fail(res);
  return { value: (JSON.parse(res.body) as { rows: (R | null)[] }).rows, token: res.header('sluice-consistency-token') };
}

/** The first page's path: `?col=eq.value&limit=&after=`. */
export function listPath(table: string, filter: Record<string, unknown> | undefined, limit: number | undefined, after: string | undefined): string {
  const q = new URLSearchParams();
  const cols = filter === undefined ? [] : Object.entries(filter).filter(([, v]) => v !== undefined);
  if (cols.length > 1) throw new TypeError('list filters on one column at a time');
  for (const [col, v] of cols) q.set(col, `eq.${String(v)}`);
  if (limit !== undefined) q.set('limit', String(limit));
  if (after !== undefined) q.set('after', after);
  const qs = q.toString();
  return qs === '' ? tablePath(table) : `${tablePath(table)}?${qs}`;
}

/** The `rel="next"` target of a Link header (RFC 8288), if any. */
export function nextLink(link: string | undefined): string | undefined {
  if (link === undefined) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m !== null && /(^|;)\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/.test(m[2]!)) return m[1];
  }
  return undefined;
}

/** One page at `path`, and where the next one is (null on the last page). */
export async function readPage<R>(core: Core, path: string, token: string | undefined): Promise<Read<Page<R>> & { nextPath: string | null }> {
  const res = await executeRead(core, { method: 'GET', path, headers: tokenHeader(token) });
  if (res.status !== 200) fail(res);
  const page = JSON.parse(res.body) as Page<R>;
  let nextPath: string | null = null;
  if (page.next !== null) {
    const link = nextLink(res.header('link'));
    if (link !== undefined) nextPath = link;
    else {
      const u = new URL(path, 'http://x');
      u.searchParams.set('after', page.next);
      nextPath = `${u.pathname}${u.search}`;
    }
  }
  return { value: page, token: res.header('sluice-consistency-token'), nextPath };
}

/** `GET /v1/writes/{writeId}` (404 → a not-found SluiceProblemError). */
export async function readWriteStatus(core: Core, writeId: string): Promise<Read<WriteStatus>> {
  const deadline = new Deadline(core.retry.deadlineMs);
  for (let retry = 0; ; retry++) {
    try {
      const found = await lookWriteStatus(core, writeId, Math.min(core.timeoutMs, Math.max(1, deadline.remaining())));
      if (found === null) throw problemError({ type: 'https://sluice.dev/problems/not-found', title: 'Not found', status: 404, detail: `no such write: ${writeId}`, writeId });
      return { value: found.status, token: found.token };
    } catch (err) {
      const retriable = err instanceof SluiceNetworkError || (err instanceof SluiceError && (err.kind === 'unavailable' || err.kind === 'timeout'));
      const delayMs = retryDelayMs(retry, undefined, core.retry);
      if (!retriable || !deadline.allows(delayMs)) throw err instanceof SluiceNetworkError ? new SluiceNetworkError(err.message, false, err.kind === 'timeout', err) : err;
      await sleep(delayMs);
    }
  }
}

/**
 * `GET /v1/writes/{writeId}`: one look (no retries), shared by the
 * `writeStatus` read and by the write path's wait after a 504.
 */
import type { Core } from './core.ts';
import { SluiceDeadLetteredError, parseProblem, problemError } from './errors.ts';
import type { Committed, WriteStatus } from './types.ts';

/** The status of a write, or null when the gateway does not know the id (404). Throws on other errors. */
export async function lookWriteStatus(core: Core, writeId: string, timeoutMs: number): Promise<{ status: WriteStatus; token: string | undefined } | null> {
  const res = await core.send({ method: 'GET', path: `/v1/writes/${encodeURIComponent(writeId)}`, headers: {}, timeoutMs });
  if (res.status === 404) return null;
  if (res.status !== 200) throw problemError(parseProblem(res.status, res.body, res.statusText));
  const status = JSON.parse(res.body) as WriteStatus;
  return { status, token: res.header('sluice-consistency-token') ?? (status.status === 'committed' ? status.token : undefined) };
}

/** A committed status as a write result (no keys or counts: the gateway does not keep them). */
export function committedFromStatus(s: Extract<WriteStatus, { status: 'committed' }>): Committed {
  return { writeId: s.writeId, status: 'committed', token: s.token, keys: [], affected: [], committedAt: s.committedAt, replayed: true };
}

/** A dead status as the error a committed-ack write would have thrown (422 dead-lettered). */
export function deadLetteredFromStatus(s: Extract<WriteStatus, { status: 'dead' }>): SluiceDeadLetteredError {
  return new SluiceDeadLetteredError({
    type: 'https://sluice.dev/problems/dead-lettered',
    title: 'Write rejected by the database',
    status: 422,
    detail: s.message,
    writeId: s.writeId,
    sqlstate: s.sqlstate,
    ...(s.constraint !== undefined ? { constraint: s.constraint } : {}),
    ...(s.column !== undefined ? { column: s.column } : {}),
  });
}

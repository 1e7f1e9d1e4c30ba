/**
 * Why a committed batch could not be confirmed on a standby because the
 * server behind the shard's address changed. All are retried like a lost
 * connection (flush/classify.ts): the batch is flushed again, and
 * `sluice.applied_jobs` on whichever primary answers skips what it has.
 */
export class FailoverError extends Error {}

/** The shard's address leads to a server in recovery (a standby), not a primary. */
export class NotPrimaryError extends FailoverError {
  override readonly name = 'NotPrimaryError';
}

/** The primary is on another timeline than the batch's commit: a standby was promoted; replay the batch there. */
export class TimelineChangedError extends FailoverError {
  override readonly name = 'TimelineChangedError';
}

/** The server is on an older timeline than the primary was seen on: an old primary is back behind the address. */
export class StaleTimelineError extends FailoverError {
  override readonly name = 'StaleTimelineError';
}

/** The shared timeline floor (confirm/timeline-floor.ts) could not be read or raised in Redis: the batch is retried, nothing was applied. */
export class TimelineFloorUnavailableError extends FailoverError {
  override readonly name = 'TimelineFloorUnavailableError';
}

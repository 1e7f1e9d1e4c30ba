import type { Rejection } from '../flush/types.ts';

/**
 * Crash-loop quarantine (RELIABILITY row 4). A job whose processing kills or
 * freezes the writer (an OOM, a native crash, a statement that never ends)
 * never fails in a way the writer can catch: its writer dies, a takeover or
 * BullMQ's stalled check hands it to the next writer, which dies too.
 *
 * Every job delivered more than once is a suspect (its last holder died or
 * froze holding it; gateway jobs have `attempts: 1`, so nothing else
 * redelivers). A suspect is flushed in a transaction of its own, so a crash
 * can be blamed on it alone, and each such flush is counted in the job's own
 * BullMQ hash before it starts (it vanishes with the job). A suspect that was
 * flushed alone MAX_SOLO_FLUSHES times without finishing is not run again:
 * its requests are dead-lettered unapplied, in an ordinary batch
 * transaction, so the partition moves on and an operator can inspect and
 * replay them. Innocent jobs that shared the first fatal batch become
 * suspects too, but commit on their first solo flush.
 */

/**
 * SQLSTATE recorded for a crash-looping request. Class `SL` lies in the range
 * the SQL standard leaves to implementations (classes starting I–Z), so it
 * can never be mistaken for a Postgres error.
 */
export const CRASH_LOOP_SQLSTATE = 'SL001';

/** Solo flushes a suspect may start without finishing before it is dead-lettered (so: 1 + this crashes). */
export const MAX_SOLO_FLUSHES = 2;

/** Field of the BullMQ job hash counting its solo flushes. */
export const SOLO_FLUSHES_FIELD = 'sluice:soloFlushes';

/** The rejection of every request of a job whose solo flush never finished `flushes` times. */
export function crashLoopRejection(flushes: number, starts: number): Rejection {
  return {
    sqlstate: CRASH_LOOP_SQLSTATE,
    message: `dead-lettered without being applied: its job was delivered ${starts} times and flushed alone ${flushes} times without finishing (it crashed or stalled the writer each time)`,
  };
}

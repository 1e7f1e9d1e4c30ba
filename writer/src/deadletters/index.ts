export { insertDeadLetters, rejectionFromError, deadOutcome, type DeadLetter } from './dead-letters.ts';
export { CRASH_LOOP_SQLSTATE, MAX_SOLO_FLUSHES, crashLoopRejection } from './quarantine.ts';

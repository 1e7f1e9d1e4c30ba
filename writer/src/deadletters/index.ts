export { insertDeadLetters, rejectionFromError, deadOutcome, payloadJson, type DeadLetter } from './dead-letters.ts';

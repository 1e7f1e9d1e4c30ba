export { Batcher, type BatcherOptions } from './batcher.ts';
export { backoffMs } from './backoff.ts';

export * from './connections.ts';
export * from './startup-check.ts';

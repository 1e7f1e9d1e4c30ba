export * from './connections.ts';
export * from './startup-check.ts';
export * from './connect.ts';
export * from './factory.ts';

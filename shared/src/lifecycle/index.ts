export * from './releasers.ts';
export * from './signals.ts';
export * from './failpoints.ts';

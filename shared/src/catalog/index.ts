export * from './types.ts';
export * from './introspect.ts';

export * from './types.ts';
export * from './introspect.ts';
export * from './validate.ts';

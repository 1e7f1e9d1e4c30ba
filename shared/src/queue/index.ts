export * from './contract.ts';
export * from './ids.ts';
export * from './partition.ts';

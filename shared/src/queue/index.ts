export * from './contract.ts';
export * from './ids.ts';

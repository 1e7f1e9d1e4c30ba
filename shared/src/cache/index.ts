/**
 * The read cache shared by the gateway's read path, the writer's
 * write-through and the cache warmer: key names, the entry format, Lua
 * compare-and-set scripts, LSN helpers, row statements, replicas and the
 * source-choosing row loader.
 */
export * from './lsn.ts';
export * from './keys.ts';
export * from './entry.ts';
export { LuaScript } from './scripts.ts';
export * from './store.ts';
export * from './write-through.ts';
export * from './popularity.ts';
export * from './rows.ts';
export * from './tables.ts';
export * from './loader.ts';
export * from './replicas/index.ts';

/**
 * The read cache shared by the gateway's read path, the writer's
 * write-through and the cache warmer: key names, the entry format, Lua
 * compare-and-set scripts, LSN helpers, row statements, replicas and the
 * source-choosing row loader.
 */
export * from './cache/lsn.ts';
export * from './cache/keys.ts';
export * from './cache/entry.ts';
export { LuaScript } from './cache/scripts.ts';
export * from './cache/store.ts';
export * from './cache/write-through.ts';
export * from './cache/popularity.ts';
export * from './rows.ts';
export * from './tables.ts';
export * from './loader.ts';
export * from './replicas/index.ts';

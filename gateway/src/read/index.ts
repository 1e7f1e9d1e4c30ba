/** The read path: wire `createReadService` into the gateway and mount `registerReadRoutes`. */
export { createReadService, ReadService, type ReadServiceDeps, type RowsRead, type ListPage } from './service.ts';
export { registerReadRoutes, type ReadDeps } from './routes.ts';
export type { RowRead } from './key-reader.ts';
export { ReadMetrics, type LookupResult } from './metrics.ts';

export { WriterMetrics } from './metrics.ts';
export { startMetricsServer, type MetricsServer } from './server.ts';

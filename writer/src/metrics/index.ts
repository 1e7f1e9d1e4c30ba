export { WriterMetrics } from './metrics.ts';
export { startMetricsServer, type MetricsServer } from '@sluice/shared/metrics/server.ts';

export { WriterMetrics } from './metrics.ts';

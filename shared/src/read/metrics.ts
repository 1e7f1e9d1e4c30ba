import { Counter, type Registry } from 'prom-client';

/** How a key read used the cache (also the `Cache-Status` of the response, RFC 9211). */
export type LookupResult = 'hit' | 'stale' | 'miss' | 'request' | 'bypass' | 'error';

/** The read path's Prometheus counters (replica gauges live in the replica monitor). */
export class ReadMetrics {
  /** Key reads by cache outcome: hit, stale (served, refreshed), miss, request (token newer than the entry), bypass (table not cacheable), error (Redis failed). */
  readonly lookups: Counter<'result'>;
  /** Database queries by source (one per batch of keys or list page). */
  readonly dbQueries: Counter<'source'>;
  /** Cache fills: stored, kept (a newer entry won the compare-and-set), fenced (lease lapsed), error. */
  readonly fills: Counter<'result'>;
  /** Readers that waited for another reader's fill: filled, lease_freed (holder gone, retried), timeout (read the database). */
  readonly waits: Counter<'outcome'>;
  /** Background stale-while-revalidate refreshes started. */
  readonly refreshes: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.lookups = new Counter({ name: 'sluice_cache_lookups_total', help: 'Key reads by cache outcome', labelNames: ['result'], registers });
    this.dbQueries = new Counter({ name: 'sluice_read_db_queries_total', help: 'Database queries of the read path by source', labelNames: ['source'], registers });
    this.fills = new Counter({ name: 'sluice_cache_fills_total', help: 'Cache fills by compare-and-set outcome', labelNames: ['result'], registers });
    this.waits = new Counter({ name: 'sluice_cache_stampede_waits_total', help: 'Reads that waited for another reader to fill a key, by outcome', labelNames: ['outcome'], registers });
    this.refreshes = new Counter({ name: 'sluice_cache_refreshes_total', help: 'Stale-while-revalidate refreshes started by this node', registers });
  }
}

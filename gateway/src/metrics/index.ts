import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '@sluice/shared/config/schema.ts';
import { RateMeter } from './rates.ts';

/** Live values the gauges read at scrape time (no per-request cost). */
export interface GaugeSources {
  pending(): number;
  unsent(): number;
  waiters(): number;
  backlog(): number;
  backlogWrites(): number;
  backlogBytes(): number;
  backlogAgeMs(): number;
}

/**
 * The gateway's Prometheus metrics, on a registry of its own (several apps in
 * one test process must not collide in the global one).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** HTTP requests by route pattern, method and status. */
  readonly requests: Counter<'route' | 'method' | 'status'>;
  /** Wall time of one coalesced `addBulk` (one job). */
  readonly enqueueSeconds: Histogram;
  /** The wait each job was given for more requests when it opened (SLUICE_ENQUEUE_LINGER_MS, adaptive up to it). */
  readonly enqueueLinger: Histogram;
  readonly jobsEnqueued: Counter;
  readonly requestsEnqueued: Counter;
  readonly enqueueFailures: Counter;
  /** Writes refused with 503 before enqueueing, by reason. */
  readonly rejected: Counter<'reason'>;
  /** Request latency by route pattern and method (the gateway's own time, from the first middleware): what a canary is judged by beside the stable gateways. */
  readonly latency: Histogram<'route' | 'method'>;
  /** Successful writes and reads a second, as this gateway saw them (admin status). */
  readonly writeRate = new RateMeter();
  readonly readRate = new RateMeter();
  private sources: GaugeSources | undefined;

  constructor(config: Readonly<Config>, defaultMetrics = true) {
    const registers = [this.registry];
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sluice_gateway_' });
    this.requests = new Counter({ name: 'sluice_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers });
    this.enqueueSeconds = new Histogram({
      name: 'sluice_enqueue_duration_seconds',
      help: 'Time to add one coalesced job to Redis',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers,
    });
    this.enqueueLinger = new Histogram({
      name: 'sluice_enqueue_linger_seconds',
      help: 'The wait each job was given for more requests when it opened: SLUICE_ENQUEUE_LINGER_MS, or under SLUICE_ADAPTIVE_LINGER up to it (0: the partition is quiet)',
      buckets: [0, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025],
      registers,
    });
    this.jobsEnqueued = new Counter({ name: 'sluice_jobs_enqueued_total', help: 'BullMQ jobs added (each holds many requests)', registers });
    this.requestsEnqueued = new Counter({ name: 'sluice_requests_enqueued_total', help: 'Write requests acknowledged as queued in Redis', registers });
    this.enqueueFailures = new Counter({ name: 'sluice_enqueue_failures_total', help: 'addBulk calls that failed (their requests got 503)', registers });
    this.latency = new Histogram({
      name: 'sluice_http_request_duration_seconds',
      help: 'Request latency by route pattern and method, from the first middleware to the response',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rejected = new Counter({ name: 'sluice_writes_rejected_total', help: 'Writes refused with 503 before enqueueing, by reason', labelNames: ['reason'], registers });
    const read = (f: (s: GaugeSources) => number) => () => (this.sources ? f(this.sources) : 0);
    this.gauge('sluice_pending_requests', 'Write requests admitted and not yet answered (bounded by SLUICE_MAX_PENDING_REQUESTS)', read((s) => s.pending()));
    this.gauge('sluice_unsent_requests', 'Requests held by the coalescer or being sent, not yet confirmed by Redis', read((s) => s.unsent()));
    this.gauge('sluice_commit_waiters', 'Requests waiting for a committed ack', read((s) => s.waiters()));
    this.gauge('sluice_queue_backlog_jobs', 'Jobs waiting, active, delayed, prioritized or paused over all partitions (cached poll)', read((s) => s.backlog()));
    this.gauge('sluice_queue_backlog_writes', 'Writes (requests) in the backlog over all partitions (cached poll)', read((s) => s.backlogWrites()));
    this.gauge('sluice_queue_backlog_bytes', 'Payload bytes in the backlog over all partitions (cached poll): size the queue Redis by this', read((s) => s.backlogBytes()));
    this.gauge('sluice_queue_backlog_age_seconds', 'Age of the cached backlog figure', read((s) => s.backlogAgeMs() / 1000));
    this.knobs(config);
  }

  /** Connect the gauges to their live values (after the components exist). */
  observe(sources: GaugeSources): void {
    this.sources = sources;
  }

  private gauge(name: string, help: string, value: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect() { this.set(value()); } });
  }

  /** Every numeric (and boolean, as 0/1) knob as `sluice_config{knob="…"}`: dashboards see what a node runs with. */
  private knobs(config: Readonly<Config>): void {
    const g = new Gauge({ name: 'sluice_config', help: 'Numeric configuration knobs of this process', labelNames: ['knob'], registers: [this.registry] });
    for (const [knob, v] of Object.entries(config)) {
      if (typeof v === 'number') g.set({ knob }, v);
      else if (typeof v === 'boolean') g.set({ knob }, v ? 1 : 0);
    }
  }
}

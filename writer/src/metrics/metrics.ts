import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '@sluice/shared/config/schema.ts';
import type { FlushStats } from '../flush/types.ts';

/**
 * The writer's Prometheus metrics, on a registry of its own (so several
 * writers in one test process do not collide on prom-client's global one).
 * `sluice_writer_dead_letters_total` and `sluice_writer_jobs_failed_total`
 * are the ones to alert on.
 */
export class WriterMetrics {
  readonly registry = new Registry();
  readonly batches = new Counter({ name: 'sluice_writer_batches_total', help: 'Batches committed (one per partition, also when a group commit held several)', labelNames: ['partition'] as const, registers: [this.registry] });
  readonly rowsCommitted = new Counter({ name: 'sluice_writer_rows_committed_total', help: 'Rows affected by committed batches', registers: [this.registry] });
  readonly requestsCommitted = new Counter({ name: 'sluice_writer_requests_committed_total', help: 'Requests in committed batches (applied, duplicate or dead)', registers: [this.registry] });
  readonly rowsPerTransaction = new Histogram({
    name: 'sluice_writer_rows_per_transaction',
    help: 'Rows affected per committed transaction',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000],
    registers: [this.registry],
  });
  readonly flushSeconds = new Histogram({
    name: 'sluice_writer_flush_duration_seconds',
    help: 'Time from BEGIN to COMMIT of a transaction (one batch, or a group commit of several), including poison bisection',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly batchLinger = new Histogram({
    name: 'sluice_writer_batch_linger_seconds',
    help: 'The wait each batch was given for more jobs when it opened: SLUICE_BATCH_LINGER_MS, or under SLUICE_ADAPTIVE_LINGER up to it (0: the partition is quiet)',
    buckets: [0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly partitionsPerTransaction = new Histogram({
    name: 'sluice_writer_partitions_per_transaction',
    help: 'Partitions whose batches a committed transaction held (more than 1: group commit, SLUICE_GROUP_COMMIT)',
    buckets: [1, 2, 3, 4, 6, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly groupFallbacks = new Counter({ name: 'sluice_writer_group_fallbacks_total', help: 'Group commits of several batches that failed (a data error, a fenced-out member, any error) and whose batches were flushed alone', registers: [this.registry] });
  readonly retries = new Counter({ name: 'sluice_writer_retries_total', help: 'Failed batch attempts that were retried, by SQLSTATE (or connection/other)', labelNames: ['sqlstate', 'kind'] as const, registers: [this.registry] });
  readonly deadLetters = new Counter({ name: 'sluice_writer_dead_letters_total', help: 'Requests dead-lettered (alert on any increase)', labelNames: ['table', 'sqlstate'] as const, registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'sluice_writer_duplicates_skipped_total', help: 'Writes skipped as already applied', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly bisections = new Counter({ name: 'sluice_writer_bisections_total', help: 'Batches that needed poison bisection', registers: [this.registry] });
  readonly jobsFailed = new Counter({ name: 'sluice_writer_jobs_failed_total', help: 'Jobs failed through the partition log (unreadable payload, or a fatal error after bounded retries); alert on any increase', labelNames: ['partition'] as const, registers: [this.registry] });
  readonly interruptions = new Counter({ name: 'sluice_writer_consumer_interruptions_total', help: "Partition consumers replaced because their Redis connection dropped (a job fetch's reply may have been lost)", labelNames: ['partition'] as const, registers: [this.registry] });
  readonly restartFailures = new Counter({ name: 'sluice_writer_consumer_restart_failures_total', help: 'Failed starts of a replacement partition consumer (tried again with backoff while the partition is ours)', labelNames: ['partition'] as const, registers: [this.registry] });
  readonly ackPublishFailures = new Counter({ name: 'sluice_writer_ack_publish_failures_total', help: 'Ack PUBLISHes that failed (the gateway answers 504; status polling still works)', registers: [this.registry] });
  readonly retentionRemoved = new Counter({ name: 'sluice_writer_retention_removed_total', help: 'Dedupe records removed past SLUICE_DEDUPE_RETENTION_S', labelNames: ['table'] as const, registers: [this.registry] });
  readonly jobsRead = new Counter({ name: 'sluice_writer_jobs_read_total', help: 'Jobs read, by payload version and the build of the gateway that wrote them (v2 on; "" before)', labelNames: ['version', 'build'] as const, registers: [this.registry] });
  readonly newerPayloads = new Counter({
    name: 'sluice_writer_newer_payloads_total',
    help: 'Jobs met whose payload version this writer does not read (a newer gateway wrote them): left queued for a newer writer, with everything behind them in their partition',
    labelNames: ['version'] as const,
    registers: [this.registry],
  });
  readonly partitionsWaiting = new Gauge({
    name: 'sluice_writer_partitions_waiting_for_newer_writer',
    help: 'Partitions this writer holds and no longer consumes: the job at their head has a payload version it does not read (upgrade the writers)',
    labelNames: ['partition', 'version'] as const,
    registers: [this.registry],
  });
  readonly partitionsOwned = new Gauge({ name: 'sluice_writer_partitions_owned', help: 'Partitions this writer consumes', registers: [this.registry] });
  readonly movePauseSeconds = new Histogram({
    name: 'sluice_shard_move_pause_seconds',
    help: 'Cutover pause of shard moves: from the switch until the target applies the range (writes of the range wait in the queue meanwhile)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly confirmSeconds = new Histogram({
    name: 'sluice_writer_confirm_seconds',
    help: "Time from a batch's COMMIT until enough standbys had it (SLUICE_CONFIRM_REPLICAS); its jobs stay in Redis meanwhile",
    labelNames: ['shard'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly unconfirmed = new Counter({
    name: 'sluice_writer_unconfirmed_batches_total',
    help: 'Batches still not on enough standbys after SLUICE_CONFIRM_TIMEOUT_MS (completed anyway with SLUICE_CONFIRM_ON_TIMEOUT=complete: a failover may lose them); alert on any increase',
    labelNames: ['shard'] as const,
    registers: [this.registry],
  });
  readonly timelineChanges = new Counter({
    name: 'sluice_writer_timeline_changes_total',
    help: "Batches whose commit was on another timeline than the primary's now (a failover happened): replayed from the queue",
    labelNames: ['shard'] as const,
    registers: [this.registry],
  });
  readonly staleServerRefusals = new Counter({
    name: 'sluice_writer_stale_server_refusals_total',
    help: 'Batch transactions (and partition claims) refused before anything committed because the server behind the shard address is in recovery or on a timeline older than one any writer has seen (an old primary back behind the address); the jobs stay queued and are retried. Alert on any increase',
    labelNames: ['shard', 'reason'] as const,
    registers: [this.registry],
  });
  readonly primaryTimeline = new Gauge({
    name: 'sluice_writer_primary_timeline',
    help: "Highest timeline any writer has seen the shard's primary on (shared in Redis); commits on an older one are refused",
    labelNames: ['shard'] as const,
    registers: [this.registry],
  });
  readonly config = new Gauge({ name: 'sluice_config', help: 'Numeric configuration knobs', labelNames: ['knob'] as const, registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sluice_writer_' });
  }

  /** Record a committed batch; a group's transaction-wide figures once, with its first member. */
  committed(partition: string, stats: FlushStats, seconds: number): void {
    this.batches.inc({ partition });
    this.requestsCommitted.inc(stats.requests);
    const txn = stats.group === undefined ? { rows: stats.rows, members: 1 } : stats.group.first ? stats.group : undefined;
    if (txn !== undefined) {
      this.rowsCommitted.inc(txn.rows);
      this.rowsPerTransaction.observe(txn.rows);
      this.partitionsPerTransaction.observe(txn.members);
      this.flushSeconds.observe(seconds);
    }
    if (stats.skippedJobs > 0) this.duplicates.inc({ kind: 'job' }, stats.skippedJobs);
    if (stats.duplicates > 0) this.duplicates.inc({ kind: 'idempotency_key' }, stats.duplicates);
    if (stats.bisected) this.bisections.inc();
    for (const d of stats.dead) this.deadLetters.inc({ table: d.table, sqlstate: d.sqlstate });
  }

  /** Export the numeric knobs the writer runs with (DESIGN: each knob is a metric or in /readyz). */
  exportConfig(config: Readonly<Config>): void {
    for (const [knob, value] of Object.entries(config)) if (typeof value === 'number') this.config.set({ knob }, value);
  }
}

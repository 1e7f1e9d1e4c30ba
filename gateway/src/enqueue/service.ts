import { AppError, CommitTimeoutError, DeadLetteredError, UnavailableError } from '@sluice/shared/errors/index.ts';
import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Logger } from '@sluice/shared/log/index.ts';
import type { ShardRouter } from '@sluice/shared/topology/router.ts';
import type { IdempotencyRef, WriteOp, WriteOutcome, WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { RedisClient as Redis } from '@sluice/shared/redis/connections.ts';
import type { AckWaiters } from '../acks/waiters.ts';
import type { GatewayMetrics } from '../metrics/index.ts';
import { jobStillQueued, lookupWriteStatus, tokenOfWrite, type StatusSources } from '../status/lookup.ts';
import { partitionOfRoute, routeOps } from './routing.ts';
import type { BacklogMonitor } from './backlog.ts';
import { EnqueueUnconfirmed, type Coalescer } from './coalescer.ts';
import type { Claim, IdempotencyStore } from './idempotency.ts';

/** `Sluice-Ack`: `replicated` is `committed` held until the shard's standbys have the commit (SLUICE_CONFIRM_REPLICAS). */
export type AckMode = 'queued' | 'committed' | 'replicated';

/** `Sluice-Ack: replicated` to a shard whose commits no standby confirms: the ack could not mean what it says. */
export class ReplicationNotConfiguredError extends AppError {
  override name = 'ReplicationNotConfiguredError';
  constructor(shard: string) {
    super(400, 'https://sluice.dev/problems/replication-not-configured', 'Replicated ack not available', `Sluice-Ack: replicated needs standby confirmation, and shard ${shard} has none (SLUICE_CONFIRM_REPLICAS is 0, or the shard has no replicas): send Sluice-Ack: committed`, { shard });
  }
}

/** One validated write, ready to enqueue (routed by the service: routing.ts). */
export interface WriteSpec {
  ops: WriteOp[];
  ack: AckMode;
  /** Ask the writer for generated keys (committed inserts and upserts). */
  ret: boolean;
  /** Ask the writer for the rows written (`Prefer: return=representation`; committed only). */
  rows?: boolean;
  idem: IdempotencyRef | undefined;
  /** Status of a committed answer: 201 when the request creates rows (POST), else 200. */
  committedStatus: 200 | 201;
  /** The writing principal's id: its writeId carries this owner's tag (queue/ids.ts). */
  owner: string;
}

/** What the route sends back. */
export interface WriteResult {
  status: 200 | 201 | 202;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** `row_to_json` text per op when the request asked for rows and the writer returned them (null: no row). */
  rows?: (string | null)[];
}

/** The parts the service drives. */
export interface WriteServiceDeps {
  nodeId: string;
  maxQueueDepth: number;
  /** Backlog limits in writes and bytes, in total and per partition (SLUICE_MAX_QUEUE_WRITES …). */
  limits: BacklogLimits;
  maxPending: number;
  producer: Redis;
  /** The shard map (routing) and the status sources (replays of committed Idempotency-Keys). */
  status: StatusSources;
  /** Shard-key values of rows (sharded tables). */
  router: ShardRouter;
  catalog: Catalog;
  /** This gateway is in the fleet registry with the map it routes by (map-follower.ts). */
  registered(): boolean;
  coalescer: Coalescer;
  backlog: BacklogMonitor;
  acks: AckWaiters;
  idempotency: IdempotencyStore;
  metrics: GatewayMetrics;
  log: Logger;
  /**
   * Test-only (SLUICE_FAILPOINTS=gateway-poison-writes): every value this
   * gateway enqueues carries a NUL byte, which Postgres refuses (SQLSTATE
   * 22021), so the writer dead-letters every write it acknowledged: the bad
   * canary that answers 202 and whose damage only the dead letters show.
   */
  poisonWrites?: boolean;
  /** Standbys that confirm a shard's commits (shared/src/config/confirm.ts); 0 or absent: `Sluice-Ack: replicated` is refused. */
  confirmReplicas?(shard: string): number;
}

/** The ops with a NUL byte appended to every value (see `poisonWrites`). */
function poisoned(ops: WriteOp[]): WriteOp[] {
  const nul = (v: string | null) => (v === null ? v : `${v}\u0000`);
  return ops.map((o) => ({
    ...o,
    ...(o.row ? { row: Object.fromEntries(Object.entries(o.row).map(([k, v]) => [k, nul(v)])) } : {}),
    ...(o.key ? { key: o.key.map((v) => `${v}\u0000`) } : {}),
  }));
}

/**
 * 503 for a write Redis may or may not have queued (it did not confirm it in
 * time). Not an acknowledgement — but not a definite "no" either: the body
 * carries the writeId and `writeStatus: "unknown"`; `GET /v1/writes/{id}`
 * tells later, and a retry with the same Idempotency-Key is applied at most once.
 */
export class UnconfirmedWriteError extends AppError {
  override name = 'UnconfirmedWriteError';
  constructor(writeId: string) {
    super(
      503,
      'https://sluice.dev/problems/enqueue-unconfirmed',
      'Write not confirmed',
      `the queue (Redis) did not confirm the write in time: it is not acknowledged but may still be applied; poll /v1/writes/${writeId}, or retry with the same Idempotency-Key`,
      { writeId, writeStatus: 'unknown' },
      { 'Retry-After': '1' },
    );
  }
}

/** Backlog limits beside the job count (what an operator sizes Redis by). */
export interface BacklogLimits {
  writes: number;
  bytes: number;
  partitionWrites: number;
  partitionBytes: number;
}

const NEW: Claim = { kind: 'new' };
const REPLAY_POLL_MS = 50;

/**
 * The write path after validation: admission (backpressure), Idempotency-Key,
 * routing to a partition, coalesced enqueue, and the answer for the ack mode.
 */
export class WriteService {
  /** Requests admitted and not yet answered (coalescing, being sent, or waiting for a commit). */
  inFlight = 0;
  // Built once: under overload every refused request would otherwise pay for a stack trace.
  private readonly redisDown = new UnavailableError('the queue (Redis) is not reachable; nothing was queued', 1);
  private readonly backlogFull: UnavailableError;
  private readonly tooManyPending: UnavailableError;

  constructor(private readonly d: WriteServiceDeps) {
    this.backlogFull = new UnavailableError(`the queue backlog is above SLUICE_MAX_QUEUE_DEPTH (${d.maxQueueDepth} jobs); retry later`, 1);
    this.tooManyPending = new UnavailableError(`this gateway holds SLUICE_MAX_PENDING_REQUESTS (${d.maxPending}) requests; retry later`, 1);
  }

  /** Refuse fast (503) when the write could not be queued or the system is behind. */
  admit(): void {
    if (this.d.producer.status !== 'ready' || !this.d.registered()) return this.refuse('redis', this.redisDown);
    if (this.d.backlog.depth > this.d.maxQueueDepth) return this.refuse('backlog', this.backlogFull);
    const l = this.d.limits;
    if (this.d.backlog.writes > l.writes) return this.refuse('backlog_writes', new UnavailableError(`the queue backlog holds more than SLUICE_MAX_QUEUE_WRITES (${l.writes}) writes; retry later`, 1));
    if (this.d.backlog.bytes > l.bytes) return this.refuse('backlog_bytes', new UnavailableError(`the queue backlog holds more than SLUICE_MAX_QUEUE_BYTES (${l.bytes}) bytes; retry later`, 1));
    if (this.inFlight >= this.d.maxPending) return this.refuse('pending', this.tooManyPending);
  }

  /** The per-partition limits, once the request is routed: the 503 to answer, if over one (counted). */
  private partitionFull(partition: string): AppError | undefined {
    const size = this.d.backlog.byPartition.get(partition);
    if (size === undefined) return undefined;
    const l = this.d.limits;
    let reason: string | undefined;
    let err: AppError | undefined;
    if (size.writes > l.partitionWrites) [reason, err] = ['partition_writes', new UnavailableError(`partition ${partition} holds more than SLUICE_MAX_PARTITION_WRITES (${l.partitionWrites}) queued writes; retry later`, 1)];
    else if (size.bytes > l.partitionBytes) [reason, err] = ['partition_bytes', new UnavailableError(`partition ${partition} holds more than SLUICE_MAX_PARTITION_BYTES (${l.partitionBytes}) queued bytes; retry later`, 1)];
    if (reason !== undefined) this.d.metrics.rejected.inc({ reason });
    return err;
  }

  private refuse(reason: string, err: AppError): never {
    this.d.metrics.rejected.inc({ reason });
    throw err;
  }

  /** Enqueue one request and answer per its ack mode. */
  async submit(spec: WriteSpec): Promise<WriteResult> {
    this.admit();
    this.inFlight++;
    try {
      return await this.enqueue(spec);
    } finally {
      this.inFlight--;
    }
  }

  private async enqueue(spec: WriteSpec): Promise<WriteResult> {
    // Refused before the Idempotency-Key is claimed: a 400/422 must not leave it pending.
    const route = routeOps(this.d.status.topology.map, this.d.router, this.d.catalog, spec.ops);
    if (spec.ack === 'replicated' && (this.d.confirmReplicas?.(route.shard) ?? 0) === 0) this.refuse('replication-not-configured', new ReplicationNotConfiguredError(route.shard));
    const claim = spec.idem === undefined ? NEW : await this.claim(spec.idem);
    if (claim.kind === 'replay') return this.replay(claim.writeId, spec);
    const req: WriteRequest = { id: '', ops: this.d.poisonWrites === true ? poisoned(spec.ops) : spec.ops };
    const committed = spec.ack !== 'queued';
    if (spec.idem !== undefined) req.idem = spec.idem;
    if (committed) {
      req.ack = this.d.nodeId;
      if (spec.ack === 'replicated') req.rep = true;
      if (spec.ret) req.ret = true;
      if (spec.rows) req.rows = true;
    }
    // Routed with the map in force now; the coalescer adds in this same turn, so a map
    // change cannot slip in between (the gateway flushes before it reports a new map).
    const map = this.d.status.topology.map;
    const p = partitionOfRoute(map, routeOps(map, this.d.router, this.d.catalog, spec.ops), (c) => this.d.coalescer.keylessPartition(c));
    const full = this.partitionFull(p.name);
    if (full !== undefined) {
      // Refused after the claim: give the key back, so a retry is not told "in progress".
      if (spec.idem !== undefined) await this.d.idempotency.release(spec.idem.scope, spec.idem.key);
      throw full;
    }
    const added = this.d.coalescer.add(p, req, spec.owner);
    // Registered in the same synchronous turn as `add` (which named the writeId):
    // no outcome can arrive before the job is even sent.
    const outcome = committed ? this.d.acks.wait(req.id) : undefined;
    try {
      await added;
    } catch (err) {
      if (committed) this.d.acks.cancel(req.id);
      // Released even when the job may have landed: a retry with the same key is then
      // deduplicated by the writer's Postgres record (sluice.idempotency_keys).
      if (spec.idem !== undefined) await this.d.idempotency.release(spec.idem.scope, spec.idem.key);
      if (err instanceof EnqueueUnconfirmed) throw new UnconfirmedWriteError(req.id);
      throw err;
    }
    if (spec.idem !== undefined) await this.completeIdem(spec.idem, req.id);
    if (outcome === undefined) return { status: 202, body: { writeId: req.id } };
    return this.committedResult(req.id, await outcome, spec.committedStatus, spec.ack === 'replicated');
  }

  private async claim(idem: IdempotencyRef): Promise<Claim> {
    try {
      return await this.d.idempotency.claim(idem.scope, idem.key, idem.hash);
    } catch (err) {
      if (err instanceof AppError) throw err;
      this.d.log.warn({ err: { message: (err as Error).message } }, 'idempotency claim failed in Redis');
      return this.refuse('redis', this.redisDown);
    }
  }

  private async completeIdem(idem: IdempotencyRef, writeId: string): Promise<void> {
    // The write is queued (acknowledged) either way; a lost marker only means a retry
    // takes the Postgres path, and the writer's unique key still stops a second application.
    await this.d.idempotency.complete(idem.scope, idem.key, idem.hash, writeId).catch((err: Error) => {
      this.d.log.warn({ err: { message: err.message }, writeId }, 'could not record the Idempotency-Key result in Redis');
    });
  }

  /** `replicated`: the writer sent the outcome only once the commit was on the shard's standbys. */
  private committedResult(writeId: string, o: WriteOutcome | null, status: 200 | 201, replicated: boolean): WriteResult {
    if (o === null) throw new CommitTimeoutError(writeId, this.d.acks.waitMs);
    const rep = replicated ? { replicated: true } : {};
    switch (o.s) {
      case 'committed': {
        const token = tokenOfWrite(this.d.status.topology, writeId, o.lsn);
        return {
          status,
          body: { writeId, status: 'committed', keys: o.keys ?? [], affected: o.n, token, committedAt: o.at, ...rep },
          headers: { 'Sluice-Consistency-Token': token },
          ...(o.rows ? { rows: o.rows } : {}),
        };
      }
      case 'duplicate': {
        const token = tokenOfWrite(this.d.status.topology, writeId, o.lsn);
        // Same Idempotency-Key applied before under another writeId: answer as that write.
        return {
          status,
          body: { writeId: o.of, status: 'committed', token, committedAt: o.at, ...rep },
          headers: { 'Sluice-Consistency-Token': token, 'Idempotent-Replayed': 'true' },
        };
      }
      case 'dead':
        throw new DeadLetteredError(writeId, o.sqlstate, o.message, { ...(o.constraint ? { constraint: o.constraint } : {}), ...(o.column ? { column: o.column } : {}) });
    }
  }

  /** A retry of an earlier request: its writeId (queued), or its outcome once known (committed). */
  private async replay(writeId: string, spec: WriteSpec): Promise<WriteResult> {
    const replayed = { 'Idempotent-Replayed': 'true' };
    if (spec.ack === 'queued') return { status: 202, body: { writeId }, headers: replayed };
    const deadline = Date.now() + this.d.acks.waitMs;
    for (;;) {
      const s = await lookupWriteStatus(this.d.status, writeId);
      // A replicated ack also waits for the job to leave its log (lookup.ts jobStillQueued).
      if (s?.status === 'committed' && (spec.ack !== 'replicated' || !(await jobStillQueued(this.d.status, writeId)))) {
        return {
          status: spec.committedStatus,
          body: { writeId, status: 'committed', token: s.token, committedAt: s.committedAt, ...(spec.ack === 'replicated' ? { replicated: true } : {}) },
          headers: { ...replayed, 'Sluice-Consistency-Token': s.token },
        };
      }
      if (s?.status === 'dead') throw new DeadLetteredError(writeId, s.sqlstate, s.message);
      if (Date.now() + REPLAY_POLL_MS > deadline) throw new CommitTimeoutError(writeId, this.d.acks.waitMs);
      await new Promise((r) => setTimeout(r, REPLAY_POLL_MS));
    }
  }
}

/**
 * The queue contract: what a gateway puts in a BullMQ job and what a writer
 * publishes back. Both sides import these types. How the payload evolves
 * (docs/PAYLOAD.md): bump `v` on any change that an older writer could
 * misread or misapply; a writer reads every version from 1 up to the newest
 * it knows (`payload.ts`), and leaves a newer one queued for a newer writer.
 *
 * Values are already in Postgres text input format (or null) when they reach
 * the queue: the gateway converts once while validating, the writer passes
 * them through `unnest($n::text[])` and casts to the column type in SQL.
 */

/**
 * What one operation does to one row. `insert-ignore` inserts unless a row
 * with its primary key exists (ON CONFLICT DO NOTHING; PostgREST's
 * `resolution=ignore-duplicates`); a writer that predates it dead-letters
 * the request (22023 unknown op), replayable once writers know it.
 */
export type OpKind = 'insert' | 'insert-ignore' | 'upsert' | 'update' | 'delete';

/** One row operation. `row` for insert/insert-ignore/upsert/update, `key` for update/delete. */
export interface WriteOp {
  /** Table name as the API knows it (a key of the catalog). */
  t: string;
  op: OpKind;
  /** Column → Postgres text value or null. For update: only the columns to set. */
  row?: Record<string, string | null>;
  /** Primary-key values in key-column order, Postgres text format. */
  key?: string[];
}

/** Idempotency-Key record carried with a request (draft-ietf-httpapi-idempotency-key-header). */
export interface IdempotencyRef {
  /** Who owns the key: the API key's id (auth off: "anonymous"). */
  scope: string;
  key: string;
  /** sha256 of method + path + canonical body; same key with another hash → 422. */
  hash: string;
}

/** One client request: applied atomically (all its ops or none). */
export interface WriteRequest {
  /** writeId, see `ids.ts`: names job and position, so status needs no extra index. */
  id: string;
  ops: WriteOp[];
  idem?: IdempotencyRef;
  /** Gateway node id waiting for a `committed` ack (absent for `queued`). */
  ack?: string;
  /**
   * `Sluice-Ack: replicated`: the writer sends this request's outcome only
   * once the shard's standbys have the commit (writer/src/confirm/), never
   * when the confirmation timed out (the gateway then answers 504).
   */
  rep?: boolean;
  /** Ask the writer to return generated primary keys (committed ack of inserts). */
  ret?: boolean;
  /**
   * Ask the writer to return each row an op wrote (`row_to_json`; a delete:
   * the row it removed), for `Prefer: return=representation`. A writer that
   * predates it ignores it and the gateway answers without the rows.
   */
  rows?: boolean;
}

/** Payload version 1: the requests one gateway coalesced for one partition. */
export interface WriteJobV1 {
  v: 1;
  reqs: WriteRequest[];
}

/**
 * Payload version 2: version 1 plus `b`, the build id of the gateway that
 * enqueued the job (SLUICE_BUILD_ID), required: a v2 writer counts the jobs
 * it reads by the build that wrote them (`sluice_writer_jobs_read_total`,
 * what a canary's writes are told apart by). A change a v1 writer could
 * merely ignore, kept as the example of a bump and of the mixed-fleet path.
 */
export interface WriteJobV2 {
  v: 2;
  /** The enqueuing gateway's build id. */
  b: string;
  reqs: WriteRequest[];
}

/** The payload of one BullMQ job, any version a writer of this build reads. */
export type WriteJob = WriteJobV1 | WriteJobV2;

/** The payload versions this build reads, oldest first; the last is the newest it can write. */
export const PAYLOAD_VERSIONS = [1, 2] as const;

/** A payload version this build knows. */
export type PayloadVersion = (typeof PAYLOAD_VERSIONS)[number];

/** The newest payload version this build knows. */
export const NEWEST_PAYLOAD_VERSION: PayloadVersion = 2;

/** Outcome of one request, published to the waiting gateway after commit. */
export type WriteOutcome =
  | {
      id: string;
      s: 'committed';
      /** Consistency token: primary WAL insert LSN after the commit, e.g. "0/16B3748". */
      lsn: string;
      at: string;
      /** Rows affected per op, in op order. */
      n: number[];
      /** Primary keys of inserted/upserted rows, per op (only when `ret`). */
      keys?: (Record<string, unknown> | null)[];
      /** `row_to_json` text of the row each op wrote or deleted, null where none (only when `rows`). */
      rows?: (string | null)[];
    }
  | { id: string; s: 'duplicate'; of: string; lsn: string; at: string }
  | { id: string; s: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string };

/** Redis pub/sub channel on which one gateway node hears outcomes of its requests. */
export function ackChannel(prefix: string, nodeId: string): string {
  return `${prefix}:acks:${nodeId}`;
}

/** Number of rows a request carries (the batcher's unit of size). */
export function requestRows(r: WriteRequest): number {
  return r.ops.length;
}

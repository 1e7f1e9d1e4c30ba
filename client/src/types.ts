/**
 * The shapes the client speaks: per-table row types (a `Tables` map, written
 * by `pnpm sluice types`), keys, write and read results, write statuses.
 */

/** One table's TypeScript shapes. */
export interface TableShape {
  /** What reads return (`row_to_json` of the row). */
  row: object;
  /** What `insert` and `upsert` accept. */
  insert: object;
  /** What `update` accepts (usually `Partial<insert>`). */
  update: object;
}

/** Any record of column → value. */
export type AnyRow = Record<string, unknown>;

/** The shape of a table nobody generated types for. */
export interface UntypedTable {
  row: AnyRow;
  insert: AnyRow;
  update: AnyRow;
}

/** The default table map: any table name, any columns. */
export type UntypedTables = Record<string, UntypedTable>;

/** A table map: every member is a {@link TableShape} (an interface or a type alias both fit). */
export type TableMap<T> = { [K in keyof T]: TableShape };

/** Names of the tables of a map. */
export type TableName<T> = keyof T & string;

/** One key column value. */
export type KeyValue = string | number | bigint | boolean;

/** A primary key: one value, or the values of a composite key in key-column order. */
export type Key = KeyValue | readonly KeyValue[];

/** `Sluice-Ack`: answer once the write is queued in Redis, or once its transaction committed. */
export type Ack = 'queued' | 'committed';

/** Options of one write. */
export interface WriteOptions {
  /** Default `queued`. */
  ack?: Ack;
  /**
   * Idempotency-Key sent with the write and every retry of it. Default: a
   * fresh `crypto.randomUUID()`. Give your own to make a retry across
   * processes safe (e.g. the id of the job that produces the write).
   */
  idempotencyKey?: string;
}

/** Options of a write that asks for the commit. */
export interface CommittedWriteOptions extends WriteOptions {
  ack: 'committed';
}

/** The write is in the queue (Redis); it will be applied once, in per-key order. */
export interface Queued {
  writeId: string;
  status: 'queued';
}

/** The write's transaction committed. */
export interface Committed {
  writeId: string;
  status: 'committed';
  /** Consistency token: send it on reads (`Sluice-Consistency-Token`) to read this write. */
  token: string;
  /** Primary keys of inserted/upserted rows, one per row or op (null for other ops). */
  keys: (Record<string, unknown> | null)[];
  /** Rows affected, one number per row or op. */
  affected: number[];
  committedAt?: string;
  /**
   * The answer was replayed (a retry found the write already done) or came
   * from `GET /v1/writes/{id}`: the gateway keeps no keys or counts for it,
   * so `keys` and `affected` are empty.
   */
  replayed: boolean;
}

/** The answer to a write. */
export type WriteResult = Queued | Committed;

/** One operation of `batch()`: all of them are applied in one transaction. */
export type BatchOp<T> = {
  [N in TableName<T>]:
    | { table: N; op: 'insert' | 'upsert'; row: T[N] extends TableShape ? T[N]['insert'] : never }
    | { table: N; op: 'update'; key: Key; row: T[N] extends TableShape ? T[N]['update'] : never }
    | { table: N; op: 'delete'; key: Key };
}[TableName<T>];

/** `GET /v1/writes/{writeId}`. */
export type WriteStatus =
  | { writeId: string; status: 'queued'; state?: string }
  | { writeId: string; status: 'committed'; token: string; committedAt: string }
  | { writeId: string; status: 'dead'; sqlstate: string; message: string; constraint?: string; column?: string; deadAt: string };

/** Options of a read. */
export interface ReadOptions {
  /** Read at least this fresh (a token of a committed write, or of an earlier read). */
  consistencyToken?: string;
}

/** Options of `list`. */
export interface ListOptions<R> extends ReadOptions {
  /** One column that leads an index, and the value it must equal (`col=eq.value`). Absent: the whole table by key. */
  filter?: { [C in keyof R & string]?: KeyValue };
  /** Rows per page (the gateway's `limit`, default 100). */
  limit?: number;
  /** Start after this cursor (a page's `next`). */
  after?: string;
}

/** One keyset page of `list`. */
export interface Page<R> {
  rows: R[];
  /** Cursor of the next page; null on the last page. */
  next: string | null;
}

/**
 * The operations a client, a batching view and a session all offer, typed by
 * a table map. They differ only in how a write is sent (`WritePath`) and in
 * which consistency token reads carry (a session adds its own).
 */
import type { Core } from './core.ts';
import { readMany, readPage, readRow, readWriteStatus, listPath } from './reads.ts';
import type {
  Ack,
  BatchOp,
  Committed,
  CommittedWriteOptions,
  Key,
  KeyValue,
  ListOptions,
  Page,
  ReadOptions,
  TableMap,
  TableName,
  TableShape,
  UntypedTables,
  WriteOptions,
  WriteResult,
  WriteStatus,
} from './types.ts';
import { batchWireOps, type WriteOp } from './wire.ts';

/** How a write leaves: on its own, or through a batcher. */
export type WritePath = (op: WriteOp, ack: Ack, idempotencyKey: string | undefined) => Promise<WriteResult>;

type Shape<T, N extends keyof T> = T[N] extends TableShape ? T[N] : never;
/** What `insert`/`upsert` of table N accept. */
export type InsertOf<T, N extends keyof T> = Shape<T, N>['insert'];
/** What `update` of table N accepts. */
export type UpdateOf<T, N extends keyof T> = Shape<T, N>['update'];
/** What reads of table N return. */
export type RowOf<T, N extends keyof T> = Shape<T, N>['row'];

function rowsOp(table: string, op: 'insert' | 'upsert', rows: object | readonly object[]): WriteOp {
  const many = Array.isArray(rows);
  const list = many ? (rows as readonly object[]) : [rows];
  if (list.length === 0) throw new TypeError(`${op} needs at least one row`);
  return { kind: 'rows', table, op, rows: list, many };
}

/** Typed operations over a table map `T` (see `pnpm sluice types`). */
export abstract class SluiceApi<T extends TableMap<T> = UntypedTables> {
  constructor(
    protected readonly core: Core,
    protected readonly path: WritePath,
  ) {}

  /** The token reads carry: the caller's, merged with a session's. */
  protected readToken(explicit: string | undefined): string | undefined {
    return explicit;
  }

  /** A token seen in an answer (a session keeps the newest per shard). */
  protected observe(_token: string | undefined): void {}

  /** Send a write and let the session see its token. */
  protected async write(op: WriteOp, o: WriteOptions | undefined): Promise<WriteResult> {
    const r = await this.path(op, o?.ack ?? 'queued', o?.idempotencyKey);
    if (r.status === 'committed') this.observe(r.token);
    return r;
  }

  /** Insert one row or an array of rows (atomic). */
  insert<N extends TableName<T>>(table: N, rows: InsertOf<T, N> | readonly InsertOf<T, N>[], opts: CommittedWriteOptions): Promise<Committed>;
  insert<N extends TableName<T>>(table: N, rows: InsertOf<T, N> | readonly InsertOf<T, N>[], opts?: WriteOptions): Promise<WriteResult>;
  insert(table: string, rows: object | readonly object[], opts?: WriteOptions): Promise<WriteResult> {
    return this.write(rowsOp(table, 'insert', rows), opts);
  }

  /** Insert or update on the primary key (`Prefer: resolution=merge-duplicates`). */
  upsert<N extends TableName<T>>(table: N, rows: InsertOf<T, N> | readonly InsertOf<T, N>[], opts: CommittedWriteOptions): Promise<Committed>;
  upsert<N extends TableName<T>>(table: N, rows: InsertOf<T, N> | readonly InsertOf<T, N>[], opts?: WriteOptions): Promise<WriteResult>;
  upsert(table: string, rows: object | readonly object[], opts?: WriteOptions): Promise<WriteResult> {
    return this.write(rowsOp(table, 'upsert', rows), opts);
  }

  /** Set the given columns of the row with this key. */
  update<N extends TableName<T>>(table: N, key: Key, changes: UpdateOf<T, N>, opts: CommittedWriteOptions): Promise<Committed>;
  update<N extends TableName<T>>(table: N, key: Key, changes: UpdateOf<T, N>, opts?: WriteOptions): Promise<WriteResult>;
  update(table: string, key: Key, changes: object, opts?: WriteOptions): Promise<WriteResult> {
    return this.write({ kind: 'update', table, key, changes }, opts);
  }

  /** Delete the row with this key. */
  delete<N extends TableName<T>>(table: N, key: Key, opts: CommittedWriteOptions): Promise<Committed>;
  delete<N extends TableName<T>>(table: N, key: Key, opts?: WriteOptions): Promise<WriteResult>;
  delete(table: string, key: Key, opts?: WriteOptions): Promise<WriteResult> {
    return this.write({ kind: 'delete', table, key }, opts);
  }

  /** Several operations over several tables, applied in one transaction. */
  batch(ops: readonly BatchOp<T>[], opts: CommittedWriteOptions): Promise<Committed>;
  batch(ops: readonly BatchOp<T>[], opts?: WriteOptions): Promise<WriteResult>;
  batch(ops: readonly BatchOp<T>[], opts?: WriteOptions): Promise<WriteResult> {
    if (ops.length === 0) throw new TypeError('batch needs at least one operation');
    return this.write({ kind: 'batch', ops: batchWireOps(ops as readonly { table: string; op: 'insert'; row?: object; key?: Key }[]) }, opts);
  }

  /** The row with this key, or null. */
  async get<N extends TableName<T>>(table: N, key: Key, opts?: ReadOptions): Promise<RowOf<T, N> | null> {
    const r = await readRow<RowOf<T, N>>(this.core, table, key, this.readToken(opts?.consistencyToken));
    this.observe(r.token);
    return r.value;
  }

  /** Rows by key in one round trip, in the order asked (null where there is none). */
  async getMany<N extends TableName<T>>(table: N, keys: readonly (Key | Record<string, KeyValue>)[], opts?: ReadOptions): Promise<(RowOf<T, N> | null)[]> {
    const r = await readMany<RowOf<T, N>>(this.core, table, keys, this.readToken(opts?.consistencyToken));
    this.observe(r.token);
    return r.value;
  }

  /**
   * Keyset pages of a table, in primary-key order, optionally filtered on
   * one indexed column: `for await (const page of client.list(…))`, or
   * `.rows()` for the rows one by one. Pages are fetched as you iterate.
   */
  list<N extends TableName<T>>(table: N, opts: ListOptions<RowOf<T, N>> = {}): Pages<RowOf<T, N>> {
    const first = listPath(table, opts.filter as Record<string, unknown> | undefined, opts.limit, opts.after);
    const self = this;
    return new Pages<RowOf<T, N>>(async function* pages() {
      for (let path: string | null = first; path !== null; ) {
        const r: Awaited<ReturnType<typeof readPage<RowOf<T, N>>>> = await readPage<RowOf<T, N>>(self.core, path, self.readToken(opts.consistencyToken));
        self.observe(r.token);
        yield r.value;
        path = r.nextPath;
      }
    });
  }

  /** `GET /v1/writes/{writeId}`: queued, committed (with its token) or dead. */
  async writeStatus(writeId: string): Promise<WriteStatus> {
    const r = await readWriteStatus(this.core, writeId);
    this.observe(r.token);
    return r.value;
  }
}

/** The pages of a `list`, fetched lazily. */
export class Pages<R> implements AsyncIterable<Page<R>> {
  constructor(private readonly gen: () => AsyncGenerator<Page<R>>) {}

  [Symbol.asyncIterator](): AsyncIterator<Page<R>> {
    return this.gen();
  }

  /** The rows of every page, one by one. */
  async *rows(): AsyncGenerator<R> {
    for await (const page of this) yield* page.rows;
  }

  /** Every row in an array (for small lists). */
  async all(): Promise<R[]> {
    const out: R[] = [];
    for await (const row of this.rows()) out.push(row);
    return out;
  }
}

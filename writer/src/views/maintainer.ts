import { named, type NamedStatement, type PoolClient } from '@sluice/shared/db/pool.ts';
import type { WriteRequest } from '@sluice/shared/queue/contract.ts';
import type { BoundView } from '@sluice/shared/views/bind.ts';
import { beforeImagesSql, type ViewStatements } from '@sluice/shared/views/sql.ts';
import { createHash } from 'node:crypto';
import { LOCK_CLASS } from '@sluice/shared/views/locks.ts';
import { settle as settleSql } from '@sluice/shared/views/settle.ts';
import type { AppliedBatch, BeforeStatementsHook, InTransactionHook } from '../flush/hooks.ts';
import { imagePlan, type ImagePlan } from './images.ts';
import { mergeImages, type SignedImage } from './merge.ts';

/**
 * Keeps read models exact inside the batch transaction, from the batch's own
 * rows, once per group per batch (shared/src/views/sql.ts has the SQL):
 *
 * - before the statements: the before-images of every row the batch names by
 *   key with an op other than a plain insert (update, upsert, delete,
 *   insert-ignore), read in one query per table for all its views;
 * - after them (the in-transaction hook): one statement per view folds
 *   −1 × before-images, +1 × the same keys read again, and +1 × each applied
 *   plain insert's own values (a plain insert that committed made a new row:
 *   no read needed, unless another op of the batch changed it: images.ts),
 *   the writer having summed the images of each group first (merge.ts). A
 *   request rolled back by poison bisection left its keyed rows as they were
 *   (before = after: no change) and its inserts are not among the applied
 *   ones. Then, only when needed, the min/max of groups a
 *   removed value may have held are recomputed, and emptied groups deleted.
 *
 * While a view is being built (state `building`, see build.ts) the delta goes
 * to its log instead, tagged with the transaction id; the builder folds the
 * deltas its snapshot did not see. A shared advisory lock per view, taken
 * before the state is read, is what the builder's exclusive lock waits for
 * at the switch to `ready`.
 */

/** One maintained view. */
export interface MaintainedView {
  bound: BoundView;
  sql: ViewStatements;
  /** Base columns that have a default (an insert may omit them). */
  defaulted: ReadonlySet<string>;
  /** Advisory lock key of the view (two int4). */
  lock: number;
  /** definitionHash of the file's SQL: a batch refuses to maintain a view built from another definition. */
  def: string;
}

interface Images {
  plan: ImagePlan;
  /** Before-images: text per base column. */
  rows: (string | null)[][];
}

/**
 * The shared lock and state read of the touched views: one round trip (names are [a-z0-9_], checked at parse).
 *
 * It also makes the rest of the transaction (the folds, the settle statements) use their prepared
 * statements' generic plans. Left to itself Postgres re-planned the fold at every batch of plain
 * inserts: with no keyed rows its custom plan looks cheaper than the generic one, so it never
 * switched (pnpm bench views --statements: 31 plans in 30 calls, a third of the fold's time at
 * ~100 groups per batch). The generic plan is the same shape: the keyed rows are primary-key probes
 * whatever the estimate (sql.ts keyedRows), the settle statements TID scans.
 */
export function stateSql(views: readonly MaintainedView[]): string {
  const locks = views.map((v) => `SELECT pg_advisory_xact_lock_shared(${LOCK_CLASS}, ${v.lock});`).join(' ');
  return `SET LOCAL plan_cache_mode = force_generic_plan; ${locks} SELECT name, state, md5(btrim(definition, E' \\t\\r\\n')) AS def FROM sluice.views WHERE name IN (${views.map((v) => `'${v.bound.name}'`).join(', ')})`;
}

/** md5 of a definition as stateSql computes it. */
export function definitionHash(sql: string): string {
  return createHash('md5').update(sql.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '')).digest('hex');
}

/**
 * A view was redefined on this database by a writer with a newer
 * `SLUICE_VIEWS_DIR` file (writer/src/views/build.ts): this writer's SQL no
 * longer fits the view's storage. Redefinition is one way, so this writer's
 * file is an older one. Retried with backoff (the jobs stay queued, nothing
 * is dead-lettered) until this writer is restarted with the new file.
 */
export class ViewRedefinedError extends Error {
  override name = 'ViewRedefinedError';
  /** flush/classify.ts: retried with backoff, never poison. */
  readonly retryable = true;
  constructor(readonly view: string, readonly file: string) {
    super(olderFileMessage(view, file));
  }
}

/** Why a writer with an older file does not maintain a view (logged at its start, and in each retried batch's error). */
export function olderFileMessage(view: string, file: string): string {
  return `this writer's file is an older definition of view ${view} (${file}): deploy the new file. The view is not rebuilt back; batches that touch its table are retried (their writes wait in the queue) until this writer runs the current file`;
}

export class ViewMaintainer {
  private readonly byTable = new Map<string, MaintainedView[]>();
  private readonly pending = new WeakMap<PoolClient, Map<string, Images>>();
  /**
   * Groups each partition's batch changed (one flush in flight per partition; a retried attempt starts over).
   * A group commit's transaction is kept under its first member, whose after-commit fences them all, at the shared LSN.
   */
  private readonly touchedGroups = new Map<string, { table: string; key: string[] }[]>();

  /** Per table: one before-images read for all its views (the union of their columns), and where each view's columns sit in it. */
  private readonly beforeOf = new Map<string, { sql: NamedStatement; pick: Map<string, number[]> }>();

  constructor(readonly views: readonly MaintainedView[]) {
    for (const v of views) {
      const list = this.byTable.get(v.bound.table.name) ?? [];
      list.push(v);
      this.byTable.set(v.bound.table.name, list);
    }
    for (const [table, list] of this.byTable) {
      const t = list[0]!.bound.table;
      const used = new Set(list.flatMap((v) => v.bound.columns.map((c) => c.name)));
      const union = t.columns.filter((c) => used.has(c.name));
      const at = new Map(union.map((c, i) => [c.name, i]));
      this.beforeOf.set(table, { sql: named(beforeImagesSql(t, union)), pick: new Map(list.map((v) => [v.bound.name, v.bound.columns.map((c) => at.get(c.name)!)])) });
    }
  }

  /** The before-statements hook. */
  readonly before: BeforeStatementsHook = async (reqs, client) => {
    const out = new Map<string, Images>();
    this.pending.set(client, out);
    for (const [table, views] of this.byTable) {
      const plan = imagePlan(reqs, table, views[0]!.bound.table.primaryKey);
      if (plan === null) continue;
      const b = this.beforeOf.get(table)!;
      const res = await client.query<Record<string, string | null>>({ ...b.sql, values: plan.keys, rowMode: 'array' } as never);
      const rows = res.rows as unknown as (string | null)[][];
      for (const v of views) {
        const pick = b.pick.get(v.bound.name)!;
        out.set(v.bound.name, { plan, rows: views.length === 1 ? rows : rows.map((r) => pick.map((i) => r[i]!)) });
      }
    }
  };

  /** The in-transaction hook. */
  readonly inTransaction: InTransactionHook = async (batch, client) => {
    const images = this.pending.get(client) ?? new Map<string, Images>();
    this.pending.delete(client);
    const groups: { table: string; key: string[] }[] = [];
    this.touchedGroups.set(batch.partition?.name ?? '', groups);
    const reqs = [...batch.applied.keys()].map((w) => w.req);
    const touched = this.views.filter((v) => images.has(v.bound.name) || reqs.some((r) => r.ops.some((o) => o.t === v.bound.table.name && o.op === 'insert')));
    if (touched.length === 0) return;
    type StateRow = { name: string; state: string; def: string };
    const res = (await client.query(stateSql(touched))) as unknown as { rows: StateRow[] }[] | { rows: StateRow[] };
    const last = Array.isArray(res) ? res[res.length - 1]! : res;
    const state = new Map(last.rows.map((r) => [r.name, r]));
    for (const v of touched) {
      const s = state.get(v.bound.name);
      // Unknown: not created yet on this shard (its builder waits for this transaction before its snapshot).
      if (s === undefined) continue;
      if (s.def !== v.def) throw new ViewRedefinedError(v.bound.name, v.bound.spec.file);
      const params = paramsOf(v, images.get(v.bound.name), reqs);
      if (params === null) continue;
      // building: the view is being filled, the log is all it gets; rebuilding: the live table
      // keeps being maintained and the log feeds the table being computed beside it (rebuild.ts).
      if (s.state !== 'ready') await client.query({ ...v.sql.logBatch, values: params });
      if (s.state === 'building') continue;
      const folded = await client.query<Record<string, string | null>>({ ...v.sql.foldBatch, values: params });
      await settle(client, v, folded.rows);
      for (const r of folded.rows) groups.push({ table: v.bound.name, key: v.bound.group.map((_, i) => r[`k${i}`] as string) });
    }
  };

  /** The view groups the committed batch of `partition` changed (for the cache's fences), once. */
  takeTouched(partition: string): { table: string; key: string[] }[] {
    const g = this.touchedGroups.get(partition) ?? [];
    this.touchedGroups.delete(partition);
    return g;
  }
}

/** After a fold: recompute min/max of stale groups, delete emptied ones (shared/src/views/settle.ts). */
export async function settle(client: PoolClient, v: MaintainedView, rows: readonly Record<string, unknown>[]): Promise<void> {
  await settleSql(client, v.sql, rows);
}

/**
 * Parameters of foldBatch/logBatch, or null when the batch changed nothing the view reads: the
 * before-images (−1) and the applied plain inserts' own values (+1), summed per group (merge.ts),
 * then the keys of the rows read again after the statements.
 */
function paramsOf(v: MaintainedView, img: Images | undefined, reqs: readonly WriteRequest[]): unknown[] | null {
  const cols = v.bound.columns;
  const defaulted = cols.filter((c) => v.defaulted.has(c.name));
  const pk = v.bound.table.primaryKey;
  const keys: string[][] = img ? img.plan.keys.map((k) => [...k]) : pk.map(() => []);
  const allGiven = defaulted.map(() => true);
  const images: SignedImage[] = [];
  for (const row of img?.rows ?? []) images.push({ sign: -1, values: row, given: allGiven });
  for (const r of reqs) {
    for (const o of r.ops) {
      if (o.t !== v.bound.table.name || o.op !== 'insert' || !o.row) continue;
      const row = o.row;
      // An insert of a row another op of the batch changed is read after the statements (images.ts).
      if (img?.plan.imaged(o)) {
        pk.forEach((c, i) => keys[i]!.push(row[c.name]!));
        continue;
      }
      images.push({ sign: 1, values: cols.map((c) => row[c.name] ?? null), given: defaulted.map((c) => row[c.name] !== undefined) });
    }
  }
  if (images.length === 0 && keys[0]!.length === 0) return null;
  const m = mergeImages(v.bound, defaulted.map((c) => c.name), images);
  return [m.weights, ...m.values, ...m.given, ...m.parts, ...keys];
}

export type { AppliedBatch };

import { AppError } from '@sluice/shared/errors/index.ts';
import { header, setHeader, type Ctx } from '../../context.ts';
import { preference } from '../write-headers.ts';
import { project, type Projection } from './select.ts';

/**
 * Rows answered in PostgREST's shape: a JSON array, or one object when the
 * client asked for `Accept: application/vnd.pgrst.object+json` (postgrest-js
 * `.single()`), projected by `select=`. Shared by reads and by writes with
 * `Prefer: return=representation`.
 */

/** How to shape rows. */
export interface Shape {
  projection: Projection;
  /** Exactly one row as an object (406 otherwise). */
  single: boolean;
}

const OBJECT_TYPE = 'application/vnd.pgrst.object+json';

/** `Accept: application/vnd.pgrst.object+json`: the client wants exactly one row as an object. */
export function wantsSingle(c: Ctx): boolean {
  return header(c, 'accept')?.includes(OBJECT_TYPE) ?? false;
}

/**
 * 406 for `.single()` when the answer is not exactly one row. PostgREST's
 * error members (`code` PGRST116, `message`, `details`) ride along as
 * extension members (RFC 9457 §3.2), so postgrest-js users see what they know.
 */
export function notOneRow(n: number): AppError {
  const details = `The result contains ${n} rows`;
  return new AppError(406, 'https://sluice.dev/problems/not-one-row', 'Not one row', `${details}; application/vnd.pgrst.object+json needs exactly one`, {
    code: 'PGRST116',
    message: 'JSON object requested, multiple (or no) rows returned',
    details,
    hint: null,
  });
}

/** The body: `[row,…]` or, for `single`, the one row. */
export function shapeRows(rows: readonly string[], s: Shape): string {
  if (s.single) {
    if (rows.length !== 1) throw notOneRow(rows.length);
    return project(rows[0]!, s.projection);
  }
  return `[${rows.map((r) => project(r, s.projection)).join(',')}]`;
}

/** Send shaped rows (status 200 unless given) with the matching media type. */
export function sendRows(c: Ctx, rows: readonly string[], s: Shape, status: 200 | 201 = 200): Response {
  const body = shapeRows(rows, s);
  c.header('Content-Type', s.single ? `${OBJECT_TYPE}; charset=utf-8` : 'application/json; charset=utf-8');
  return c.body(body, status);
}

/** `Prefer: count=…` (RFC 7240), lower-cased; undefined when absent. */
export function countPreference(c: Ctx): string | undefined {
  return preference(header(c, 'prefer'), 'count')?.toLowerCase();
}

/**
 * `Content-Range` as PostgREST sends it (RFC 9110 §14.4, unit `items`):
 * `first-last/total`, `*` for an unknown total, `*\/total` when empty.
 */
export function setContentRange(c: Ctx, offset: number, n: number, total: number | undefined): void {
  setHeader(c, 'Content-Range', `${n === 0 ? '*' : `${offset}-${offset + n - 1}`}/${total ?? '*'}`);
}

import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import { ValidationError } from '@sluice/shared/errors/index.ts';
import { header, setHeader, type Ctx } from '../../context.ts';
import type { AckMode, WriteResult } from '../../enqueue/service.ts';
import { sendResult } from '../respond.ts';
import { ackModeOf, preference } from '../write-headers.ts';
import { sendRows, wantsSingle, type Shape } from './representation.ts';
import { parseSelect } from './select.ts';

/**
 * The `Prefer` preferences (RFC 7240) of PostgREST's writes that the table
 * routes honour, and the answer they shape. Each honoured preference is
 * echoed in `Preference-Applied` (§3); Sluice's own answer (`202
 * {writeId}`, or the committed result) is kept when none changes it.
 */

/** What the request prefers. */
export interface WritePrefs {
  /** `representation`: wait for the commit, answer with the rows written; `minimal`: no body. */
  ret: 'representation' | 'minimal' | undefined;
  /** An upsert (`merge-duplicates`) or an insert that skips existing keys (`ignore-duplicates`). */
  resolution: 'merge-duplicates' | 'ignore-duplicates' | undefined;
  /** `count=…`: the rows affected in `Content-Range` (only once committed: a queued write has no count yet). */
  count: string | undefined;
  /** `missing=default`: what Sluice always does with columns a row leaves out. */
  missingDefault: boolean;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], why: string): T | undefined {
  const v = raw?.toLowerCase();
  if (v === undefined || (allowed as readonly string[]).includes(v)) return v as T | undefined;
  throw new ValidationError(`Prefer: ${name}=${v.slice(0, 40)} is not supported: ${why}`);
}

/** Parse the preferences; 400 for a value Sluice cannot honour rather than silently doing something else. */
export function writePrefs(c: Ctx): WritePrefs {
  const prefer = header(c, 'prefer');
  const ret = oneOf('return', preference(prefer, 'return'), ['representation', 'minimal'] as const, 'return=minimal or return=representation');
  const resolution = oneOf('resolution', preference(prefer, 'resolution'), ['merge-duplicates', 'ignore-duplicates'] as const, 'resolution=merge-duplicates or ignore-duplicates');
  const missing = oneOf('missing', preference(prefer, 'missing'), ['default'] as const, 'Sluice gives the columns a row leaves out their defaults (missing=default)');
  oneOf('tx', preference(prefer, 'tx'), ['commit'] as const, 'Sluice commits every write it accepts');
  return { ret, resolution, count: preference(prefer, 'count')?.toLowerCase(), missingDefault: missing === 'default' };
}

/** The ack mode: `return=representation` waits for the commit (a 400 if Sluice-Ack asks for less). */
export function ackFor(c: Ctx, prefs: WritePrefs): AckMode {
  const ack = ackModeOf(c);
  if (prefs.ret !== 'representation' || ack !== 'queued') return ack;
  if (header(c, 'sluice-ack') !== undefined) throw new ValidationError('Prefer: return=representation answers with the rows once committed: it cannot be combined with Sluice-Ack: queued');
  return 'committed';
}

/** How to shape the rows of `return=representation` (`select=`, `.single()`); parsed only when asked for. */
export function writeShape(c: Ctx, v: TableValidator, url: URL, prefs: WritePrefs): Shape {
  if (prefs.ret !== 'representation') return { projection: null, single: false };
  return { projection: parseSelect(v.table, url.searchParams.get('select') ?? '*'), single: wantsSingle(c) };
}

/** `on_conflict=`: Sluice upserts on the primary key only (the conflict target its writer uses). */
export function checkOnConflict(v: TableValidator, raw: string | null): void {
  if (raw === null) return;
  const names = raw.split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1'));
  const pk = v.table.primaryKey.map((c) => c.name);
  if (names.length !== pk.length || !pk.every((n) => names.includes(n))) {
    throw new ValidationError(`on_conflict=${raw.slice(0, 100)}: Sluice upserts on the primary key only (on_conflict=${pk.join(',')})`);
  }
}

/**
 * The answer of a table write: the rows (`return=representation`), nothing
 * (`return=minimal`: 202 queued, else 201 created / 204), or Sluice's own
 * body; `created` for POST.
 */
export function answerWrite(c: Ctx, r: WriteResult, prefs: WritePrefs, shape: Shape, created: boolean): Response {
  const applied: string[] = [];
  if (prefs.resolution !== undefined) applied.push(`resolution=${prefs.resolution}`);
  if (prefs.missingDefault) applied.push('missing=default');
  const affected = r.body.affected;
  if (prefs.count !== undefined && Array.isArray(affected) && affected.length > 0) {
    setHeader(c, 'Content-Range', `*/${(affected as number[]).reduce((a, b) => a + b, 0)}`);
    applied.push(`count=${prefs.count}`);
  }
  // Rows are absent when the writer could not return them: a replayed Idempotency-Key, a
  // redelivered job, a writer that predates them. Then Sluice's own body, without the preference.
  const rows = prefs.ret === 'representation' ? r.rows : undefined;
  if (rows !== undefined || prefs.ret === 'minimal') applied.push(`return=${prefs.ret}`);
  if (applied.length > 0) setHeader(c, 'Preference-Applied', applied.join(', '));
  if (rows === undefined && prefs.ret !== 'minimal') return sendResult(c, r);
  if (r.headers !== undefined) for (const name in r.headers) setHeader(c, name, r.headers[name]!);
  if (rows !== undefined) return sendRows(c, rows.filter((x): x is string => x !== null), shape, created ? 201 : 200);
  return c.body(null, r.status === 202 ? 202 : created ? 201 : 204);
}

import { PayloadTooLargeError, ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import { setHeader, type Ctx } from '../context.ts';
import type { WriteResult } from '../enqueue/service.ts';

/** At most this many field errors in one problem document. */
const MAX_REPORTED = 100;

/** 400 listing every field error (capped), or nothing. `what` names the values checked ("value", "key value"). */
export function throwIfInvalid(errors: readonly FieldError[], what = 'value'): void {
  if (errors.length === 0) return;
  const shown = errors.length > MAX_REPORTED ? errors.slice(0, MAX_REPORTED) : errors;
  throw new ValidationError(`${errors.length} invalid ${what}(s)${shown === errors ? '' : `; the first ${MAX_REPORTED} are listed`}`, shown);
}

/** 413 when a request carries more rows (or keys) than SLUICE_MAX_ROWS_PER_REQUEST. */
export function checkRowCount(n: number, max: number, what = 'rows'): void {
  if (n > max) throw new PayloadTooLargeError(`${n} ${what} exceed SLUICE_MAX_ROWS_PER_REQUEST (${max})`);
}

/** Send a write result (and its headers) as JSON. */
export function sendResult(c: Ctx, r: WriteResult): Response {
  if (r.headers !== undefined) for (const name in r.headers) setHeader(c, name, r.headers[name]!);
  return c.json(r.body, r.status);
}

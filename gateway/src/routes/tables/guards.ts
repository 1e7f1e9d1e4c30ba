import { ForbiddenError, NotFoundError, ValidationError, type FieldError } from '@sluice/shared/errors/index.ts';
import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import type { Ctx } from '../../context.ts';

/**
 * The checks every `/v1/tables/{table}…` route makes, in this order: the
 * table must be exposed (404 before anything else, so names like
 * `users";DROP…` or `pg_catalog.pg_authid` never reach a query), then the
 * caller needs the scope (403), then a `{key}` must parse (400).
 */

/** `{table}`, looked up in `tables` (404), with `allowed(name)` for the scope (403 naming `scope:<table>`). */
export function exposedTable<T>(c: Ctx, tables: ReadonlyMap<string, T>, scope: 'read' | 'write'): T {
  const name = c.req.param('table') ?? '';
  const t = tables.get(name);
  if (t === undefined) throw new NotFoundError(`no table named ${JSON.stringify(name.slice(0, 100))} is exposed`);
  const p = c.get('principal');
  if (!(scope === 'read' ? p.canRead(name) : p.canWrite(name))) throw new ForbiddenError(`this API key lacks ${scope}:${name}`);
  return t;
}

/**
 * The `{key}` segment of the URL, parsed by the table's validator. Read from
 * the raw path: Hono's decoded param would turn `%2C` into a comma and merge
 * two key values; the path keeps reserved characters encoded.
 */
export function keyFromUrl(c: Ctx, v: TableValidator): string[] {
  const path = c.req.path;
  const errors: FieldError[] = [];
  const key = v.parseKey(path.slice(path.lastIndexOf('/') + 1), '', errors);
  if (key === null) throw new ValidationError(`invalid key in the URL: ${errors.map((e) => `${e.pointer} ${e.detail}`.trim()).join('; ')}`);
  return key;
}

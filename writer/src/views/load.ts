import type { Catalog } from '@sluice/shared/catalog/types.ts';
import type { Queryable } from '@sluice/shared/db/pool.ts';
import { loadViewDefinitions } from '@sluice/shared/views/definitions.ts';
import { ViewDefinitionError } from '@sluice/shared/views/parse.ts';
import { viewStatements } from '@sluice/shared/views/sql.ts';
import { viewLockKey } from '@sluice/shared/views/locks.ts';
import { definitionHash, type MaintainedView } from './maintainer.ts';

/**
 * Read `SLUICE_VIEWS_DIR`: every `<name>.sql`, parsed, bound to the catalog,
 * its SQL built. Any refusal stops the start with the file and the construct.
 */

/** Defaults Sluice cannot reproduce in the batch's transaction (a different value each call). */
const VOLATILE = /\b(nextval|random|clock_timestamp|timeofday|statement_timestamp|gen_random_uuid|uuid_generate_\w+)\s*\(/i;

/** Parse and bind the definitions in `dir`. `shardKeys`: sharded table → shard-key column. */
export async function loadViews(dir: string, catalog: Catalog, db: Queryable, shardKeys: Readonly<Record<string, string>> = {}): Promise<MaintainedView[]> {
  const out: MaintainedView[] = [];
  for (const bound of await loadViewDefinitions(dir, catalog)) {
    const spec = bound.spec;
    const shardKey = shardKeys[bound.table.name];
    // Per-shard view tables are exact only when a group lives on one shard: the shard key must be a group column.
    if (shardKey !== undefined && !bound.group.some((g) => g.col.name === shardKey)) {
      throw new ViewDefinitionError(spec.file, `table ${bound.table.name} is sharded by "${shardKey}": a view over it must GROUP BY ${shardKey} (groups across shards are not merged)`);
    }
    const { rows } = await db.query<{ name: string; expr: string }>(
      `SELECT a.attname AS name, pg_get_expr(d.adbin, d.adrelid) AS expr
         FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = $1::regclass`,
      [bound.table.qualified],
    );
    const defaults = new Map<string, string>();
    for (const r of rows) {
      if (!bound.columns.some((c) => c.name === r.name)) continue;
      const col = bound.table.byName.get(r.name)!;
      if (VOLATILE.test(r.expr)) {
        // A key column with a volatile default (serial) is fine when every insert names it; we cannot know, so refuse unless it is the key (imaged after).
        throw new ViewDefinitionError(spec.file, `column "${r.name}" has a volatile default (${r.expr}): a view may not read it`);
      }
      if (col.computed) throw new ViewDefinitionError(spec.file, `column "${r.name}" is a generated column: a view may not read it`);
      defaults.set(r.name, r.expr);
    }
    out.push({ bound, sql: viewStatements(bound, defaults), defaulted: new Set(defaults.keys()), lock: viewLockKey(bound.name), def: definitionHash(spec.sql) });
  }
  return out;
}

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog, ColumnInfo, TableInfo } from '../catalog/types.ts';
import { quoteIdent } from '../sql/ident.ts';
import { bindView, type BoundView } from './bind.ts';
import { loadViewParser, parseView, ViewDefinitionError } from './parse.ts';

/**
 * Read `SLUICE_VIEWS_DIR` (gateways and writers alike): every `<name>.sql`
 * parsed and bound to the catalog. A refusal stops the start with the file
 * and the construct; a view may not share a name with an exposed table
 * (both appear in scopes `read:{name}` and in the cache's keys).
 */
export async function loadViewDefinitions(dir: string, catalog: Catalog): Promise<BoundView[]> {
  await loadViewParser();
  const out: BoundView[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.sql')).sort()) {
    const file = join(dir, f);
    const v = bindView(parseView(f.slice(0, -4), readFileSync(file, 'utf8'), file), catalog);
    if (catalog.has(v.name)) throw new ViewDefinitionError(file, `view name "${v.name}" is also an exposed table's name`);
    out.push(v);
  }
  return out;
}

const KIND_OF_TYPE: Record<string, ColumnInfo['kind']> = { bigint: 'int8', numeric: 'numeric' };

/** The view as the read path sees a table: `sluice_views.<name>`, keyed by its group columns. */
export function viewTableInfo(v: BoundView): TableInfo {
  const group = v.group.map((g): ColumnInfo => ({ ...g.col, name: g.name, quoted: g.quoted, notNull: false, hasDefault: false, generatedAlways: false }));
  const aggs = v.aggregates.map((a): ColumnInfo => {
    const base = a.col !== null && (a.fn === 'min' || a.fn === 'max') ? a.col : undefined;
    return { name: a.name, quoted: a.quoted, type: a.type, castType: base?.castType ?? a.type, kind: base?.kind ?? KIND_OF_TYPE[a.type] ?? 'numeric', notNull: a.fn === 'count', hasDefault: false, generatedAlways: true };
  });
  const columns = [...group, ...aggs];
  return { name: v.name, schema: 'sluice_views', table: v.name, qualified: `${quoteIdent('sluice_views')}.${quoteIdent(v.name)}`, columns, byName: new Map(columns.map((c) => [c.name, c])), primaryKey: group };
}

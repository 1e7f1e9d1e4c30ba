import { quoteIdent } from '../sql/ident.ts';

/**
 * A view's WHERE, rendered back to SQL from the parser's tree (the parser
 * package has no deparser, and rendering a small checked subset ourselves
 * means every identifier in the text comes from the catalog and every
 * constant is re-quoted). Supported: columns of the row, constants, casts,
 * binary and unary operators, AND/OR/NOT, IS [NOT] NULL, IS [NOT]
 * TRUE/FALSE, IN (…), [NOT] LIKE/ILIKE, [NOT] BETWEEN, IS [NOT] DISTINCT
 * FROM. Function calls and subqueries are refused: a volatile function, or
 * a read of other rows, would let the same row count differently twice.
 */

/** A node of libpg-query's JSON tree. */
export type Node = Record<string, unknown>;
type Obj = Record<string, unknown>;

const OPERATORS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '||', '~~', '!~~', '~~*', '!~~*']);
const NODE_NAMES: Record<string, string> = {
  FuncCall: 'function calls are not supported',
  SubLink: 'subqueries are not supported',
  CaseExpr: 'CASE is not supported',
  CoalesceExpr: 'COALESCE is not supported',
  SQLValueFunction: 'functions such as now() or current_user are not supported (not a property of the row)',
  ParamRef: 'parameters are not supported',
  A_ArrayExpr: 'ARRAY is not supported',
  RowExpr: 'row constructors are not supported',
};

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

function constant(c: Obj, refuse: (m: string) => never): string {
  if (c['isnull']) return 'NULL';
  if ('ival' in c) return String(((c['ival'] as Obj)['ival'] as number | undefined) ?? 0);
  if ('fval' in c) {
    const f = (c['fval'] as Obj)['fval'] as string;
    if (!/^[0-9.eE+-]+$/.test(f)) refuse(`constant ${f}`);
    return f;
  }
  if ('sval' in c) return literal(((c['sval'] as Obj)['sval'] as string | undefined) ?? '');
  if ('boolval' in c) return ((c['boolval'] as Obj)['boolval'] as boolean | undefined) ? 'true' : 'false';
  if ('bsval' in c) return refuse('bit-string constants are not supported');
  return refuse('this constant is not supported');
}

/** A type name of a cast: plain (optionally schema-qualified) names with integer modifiers. */
function typeName(t: Obj, refuse: (m: string) => never): string {
  const names = ((t['names'] as Obj[] | undefined) ?? []).map((n) => (n['String'] as Obj)['sval'] as string);
  if (t['arrayBounds']) refuse('array types in casts are not supported');
  const mods = ((t['typmods'] as Obj[] | undefined) ?? []).map((m) => {
    const c = m['A_Const'] as Obj | undefined;
    const i = (c?.['ival'] as Obj | undefined)?.['ival'];
    if (typeof i !== 'number') refuse('type modifiers must be integers');
    return String(i);
  });
  // pg_catalog.int4 etc. come from the grammar's own type names (`int`, `varchar`).
  const base = names.map(quoteIdent).join('.');
  return mods.length ? `${base}(${mods.join(', ')})` : base;
}

/**
 * Render `node` as SQL. `col` maps a column name to its SQL (and may refuse an
 * unknown one); `refuse` throws the view error; `alias`/`relname` are the
 * names a qualified column may use.
 */
export function deparseWhere(node: Node, col: (name: string) => string, refuse: (construct: string) => never, alias: string, relname: string): string {
  const go = (n: unknown): string => {
    const o = n as Obj;
    const k = Object.keys(o)[0]!;
    const v = o[k] as Obj;
    switch (k) {
      case 'ColumnRef': {
        const parts = ((v['fields'] as Obj[] | undefined) ?? []).map((f) => ((f['String'] as Obj | undefined)?.['sval'] as string | undefined) ?? '*');
        if (parts.includes('*')) refuse('* is not supported');
        if (parts.length > 2 || (parts.length === 2 && parts[0] !== alias && parts[0] !== relname)) refuse(`"${parts.join('.')}" is not a column of the FROM table`);
        return col(parts[parts.length - 1]!);
      }
      case 'A_Const':
        return constant(v, refuse);
      case 'TypeCast':
        return `CAST(${go(v['arg'])} AS ${typeName(v['typeName'] as Obj, refuse)})`;
      case 'BoolExpr': {
        const args = ((v['args'] as unknown[] | undefined) ?? []).map(go);
        if (v['boolop'] === 'NOT_EXPR') return `(NOT ${args[0]})`;
        return `(${args.join(v['boolop'] === 'AND_EXPR' ? ' AND ' : ' OR ')})`;
      }
      case 'NullTest':
        return `(${go(v['arg'])} IS ${v['nulltesttype'] === 'IS_NOT_NULL' ? 'NOT ' : ''}NULL)`;
      case 'BooleanTest': {
        const t = String(v['booltesttype']).replace(/^IS_/, 'IS ').replace(/_/g, ' ');
        return `(${go(v['arg'])} ${t})`;
      }
      case 'List':
        return ((v['items'] as unknown[] | undefined) ?? []).map(go).join(', ');
      case 'A_Expr':
        return aExpr(v);
      default:
        return refuse(NODE_NAMES[k] ?? `${k} is not supported`);
    }
  };
  const aExpr = (v: Obj): string => {
    const names = ((v['name'] as Obj[] | undefined) ?? []).map((x) => (x['String'] as Obj)['sval'] as string);
    const op = names[names.length - 1] ?? '';
    if (names.length > 1) refuse(`schema-qualified operator ${names.join('.')}`);
    const l = v['lexpr'] === undefined ? undefined : go(v['lexpr']);
    const r = () => go(v['rexpr']);
    switch (v['kind']) {
      case 'AEXPR_OP':
        if (!OPERATORS.has(op)) refuse(`operator ${op} is not supported`);
        return l === undefined ? `(${op} ${r()})` : `(${l} ${op} ${r()})`;
      case 'AEXPR_IN':
        return `(${l} ${op === '<>' ? 'NOT IN' : 'IN'} (${r()}))`;
      case 'AEXPR_LIKE':
        return `(${l} ${op === '!~~' ? 'NOT LIKE' : 'LIKE'} ${r()})`;
      case 'AEXPR_ILIKE':
        return `(${l} ${op === '!~~*' ? 'NOT ILIKE' : 'ILIKE'} ${r()})`;
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN': {
        const items = (((v['rexpr'] as Obj)['List'] as Obj)['items'] as unknown[]).map(go);
        return `(${l} ${v['kind'] === 'AEXPR_NOT_BETWEEN' ? 'NOT ' : ''}BETWEEN ${items[0]} AND ${items[1]})`;
      }
      case 'AEXPR_DISTINCT':
        return `(${l} IS DISTINCT FROM ${r()})`;
      case 'AEXPR_NOT_DISTINCT':
        return `(${l} IS NOT DISTINCT FROM ${r()})`;
      default:
        return refuse(`${String(v['kind']).replace(/^AEXPR_/, '')} expressions are not supported`);
    }
  };
  return go(node);
}

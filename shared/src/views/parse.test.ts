import { beforeAll, describe, expect, it } from 'vitest';
import type { Catalog, ColumnInfo, TableInfo } from '../catalog/types.ts';
import { quoteIdent } from '../sql/ident.ts';
import { bindView } from './bind.ts';
import { loadViewParser, parseView, ViewDefinitionError } from './parse.ts';

beforeAll(() => loadViewParser());

function col(name: string, kind: ColumnInfo['kind'], type: string, notNull = true): ColumnInfo {
  return { name, quoted: quoteIdent(name), type, castType: type, kind, notNull, hasDefault: false, generatedAlways: false };
}
const columns = [col('id', 'int8', 'bigint'), col('user_id', 'int4', 'integer'), col('kind', 'text', 'text'), col('amount', 'numeric', 'numeric', false), col('score', 'float', 'double precision'), col('doc', 'json', 'jsonb'), col('created_at', 'timestamp', 'timestamp with time zone')];
const events: TableInfo = { name: 'events', schema: 'public', table: 'events', qualified: '"public"."events"', columns, byName: new Map(columns.map((c) => [c.name, c])), primaryKey: [columns[0]!] };
const catalog: Catalog = new Map([['events', events]]);

const refusal = (sql: string) => {
  try {
    bindView(parseView('v', sql, 'views/v.sql'), catalog);
  } catch (err) {
    expect(err).toBeInstanceOf(ViewDefinitionError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${sql}`);
};

describe('view definitions', () => {
  it('accepts the README example and renders its WHERE from the tree', () => {
    const v = bindView(parseView('user_stats', `select user_id, count(*) as events, sum(amount) as total, max(created_at) as last_at from events where kind <> 'test' group by user_id`), catalog);
    expect(v.group.map((g) => g.name)).toEqual(['user_id']);
    expect(v.aggregates.map((a) => [a.fn, a.column, a.name, a.type])).toEqual([['count', null, 'events', 'bigint'], ['sum', 'amount', 'total', 'numeric'], ['max', 'created_at', 'last_at', 'timestamp with time zone']]);
    expect(v.where).toBe(`(r."kind" <> 'test')`);
    expect(v.columns.map((c) => c.name)).toEqual(['user_id', 'kind', 'amount', 'created_at']);
  });

  it('re-quotes constants and accepts the supported predicate forms', () => {
    const v = bindView(parseView('x', `select e.kind, avg(e.amount), min(amount) as lo from events e where (kind in ('a', 'it''s') or amount between 1 and 2.5) and not (amount is null) and kind like 'x%' and amount::int > -3 group by e.kind`), catalog);
    expect(v.where).toContain(`'it''s'`);
    expect(v.aggregates.map((a) => a.name)).toEqual(['avg', 'lo']);
  });

  it.each([
    ['delete from events', 'DELETE statement'],
    ['select 1; select 2', 'exactly one SELECT'],
    ['select user_id, count(*) from events group by user_id having count(*) > 1', 'HAVING'],
    ['select user_id, count(*) from events group by user_id order by 1', 'ORDER BY'],
    ['select user_id, count(*) from events group by user_id limit 5', 'LIMIT'],
    ['select distinct user_id from events group by user_id', 'DISTINCT'],
    ['with x as (select 1) select user_id, count(*) from events group by user_id', 'WITH'],
    ['select e.user_id, count(*) from events e join events f on e.id = f.id group by e.user_id', 'JOIN'],
    ['select user_id, count(*) from events, events f group by user_id', 'more than one FROM item'],
    ['select user_id, count(*) from (select * from events) s group by user_id', 'subquery in FROM'],
    ['select user_id, count(distinct kind) from events group by user_id', 'count(DISTINCT …)'],
    ['select user_id, count(*) filter (where kind = \'a\') from events group by user_id', 'FILTER'],
    ['select user_id, string_agg(kind, \',\') from events group by user_id', 'string_agg()'],
    ['select user_id, count(*) over () from events group by user_id', 'OVER'],
    ['select user_id, sum(amount) + 1 from events group by user_id', 'expression A_Expr'],
    ['select count(*) from events', 'GROUP BY is required'],
    ['select user_id, kind, count(*) from events group by user_id', '"kind" must appear in GROUP BY'],
    ['select user_id, count(*) from events where kind = lower(\'A\') group by user_id', 'WHERE: function calls'],
    ['select user_id, count(*) from events where created_at > now() group by user_id', 'WHERE: function calls'],
    ['select user_id, count(*) from events where id in (select id from events) group by user_id', 'WHERE: subqueries'],
    ['select user_id, count(*) from nope group by user_id', 'not an exposed table'],
    ['select user_id, count(nope) from events group by user_id', '"nope" is not a column'],
    ['select user_id, sum(score) from events group by user_id', 'floating-point'],
    ['select user_id, sum(kind) from events group by user_id', 'cannot be summed'],
    ['select doc, count(*) from events group by doc', 'no equality usable as a key'],
    ['select user_id, count(*), count(*) from events group by user_id', 'appears twice'],
    ['selec user_id from events', 'not valid SQL'],
  ])('refuses %s', (sql, expected) => {
    const msg = refusal(sql);
    expect(msg).toContain('views/v.sql');
    expect(msg).toContain(expected);
  });

  it('refuses a file name that cannot be a view name', () => {
    expect(() => parseView('User-Stats', 'select user_id, count(*) from events group by user_id')).toThrow(/view name/);
  });
});

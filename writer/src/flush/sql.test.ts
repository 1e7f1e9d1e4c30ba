import { describe, expect, it } from 'vitest';
import type { ColumnInfo, TableInfo } from '@sluice/shared/catalog/types.ts';
import { createPool } from '@sluice/shared/db/pool.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { classify, classifySqlstate } from './classify.ts';
import { returningFor, StatementCache, statementText } from './sql.ts';

const col = (name: string, type: string, castType = type): ColumnInfo => ({ name, quoted: `"${name}"`, type, castType, kind: 'text', notNull: false, hasDefault: false, generatedAlways: false });
const id = col('id', 'bigint');
const name = col('name', 'character varying(20)', 'character varying');
const users: TableInfo = { name: 'users', schema: 'public', table: 'users', qualified: '"public"."users"', columns: [id, name], byName: new Map([['id', id], ['name', name]]), primaryKey: [id] };

describe('statement texts', () => {
  it('inserts from one text array per column, cast to the type without modifier', () => {
    expect(statementText(users, 'insert', [id, name], 'keys')).toBe(
      'INSERT INTO "public"."users" AS t ("id", "name") SELECT u.a0::bigint, u.a1::character varying FROM unnest($1::text[], $2::text[]) AS u(a0, a1) RETURNING t."id" AS k0',
    );
  });

  it('upserts on the primary key, DO NOTHING when only key columns are given', () => {
    expect(statementText(users, 'upsert', [id, name], 'none')).toMatch(/ON CONFLICT \("id"\) DO UPDATE SET "name" = EXCLUDED\."name"$/);
    expect(statementText(users, 'upsert', [id], 'keys-text')).toMatch(/ON CONFLICT \("id"\) DO NOTHING RETURNING t\."id" AS k0, t\."id"::text AS t0$/);
  });

  it('insert-ignore skips existing keys whatever columns it carries', () => {
    expect(statementText(users, 'insert-ignore', [id, name], 'keys-text')).toMatch(/ON CONFLICT \("id"\) DO NOTHING RETURNING t\."id" AS k0, t\."id"::text AS t0$/);
    expect(returningFor('insert-ignore', [id, name], users, false, true)).toBe('keys-text');
    expect(returningFor('insert-ignore', [id, name], users, false, false)).toBe('none');
  });

  it('returns row_to_json of each row written (a delete: removed) only for groups asking for representations', () => {
    expect(statementText(users, 'insert', [name], 'keys', false, true)).toMatch(/RETURNING t\."id" AS k0, row_to_json\(t\.\*\)::text AS j$/);
    expect(statementText(users, 'delete', [], 'ordinal', true, true)).toMatch(/RETURNING v\.i AS i, t\."id"::text AS c0, NULL::text AS r, row_to_json\(t\.\*\)::text AS j$/);
    const cache = new StatementCache();
    expect(cache.get(users, 'update', [name], 'ordinal', true)).not.toBe(cache.get(users, 'update', [name], 'ordinal'));
    expect(cache.get(users, 'update', [name], 'ordinal').text).not.toMatch(/AS j/);
  });

  it('updates and deletes by joining unnest WITH ORDINALITY on the key', () => {
    expect(statementText(users, 'update', [name], 'ordinal')).toBe(
      'UPDATE "public"."users" AS t SET "name" = v.a0::character varying FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS v(k0, a0, i) WHERE t."id" = v.k0::bigint RETURNING v.i AS i',
    );
    expect(statementText(users, 'delete', [], 'none')).toBe('DELETE FROM "public"."users" AS t USING unnest($1::text[]) WITH ORDINALITY AS v(k0, i) WHERE t."id" = v.k0::bigint');
  });

  it('returns only what waiting requests need', () => {
    expect(returningFor('insert', [name], users, false, true)).toBe('none');
    expect(returningFor('insert', [name], users, true, true)).toBe('keys');
    expect(returningFor('upsert', [id], users, false, true)).toBe('keys-text');
    expect(returningFor('delete', [], users, false, true)).toBe('ordinal');
    expect(returningFor('delete', [], users, false, false)).toBe('none');
  });

  it('caches one named statement per (table, op, columns, returning), named by its text', () => {
    const cache = new StatementCache({ maxNamed: 1 });
    const a = cache.get(users, 'insert', [id, name], 'none');
    expect(cache.get(users, 'insert', [id, name], 'none')).toBe(a);
    expect(a.name).toMatch(/^sluice_[0-9a-f]{20}$/);
    expect(cache.get(users, 'insert', [name], 'none').name).toBeUndefined(); // past maxNamed: unnamed
  });
});

describe('classifySqlstate', () => {
  it('retries transient failures, isolates data errors, and fails the rest', () => {
    for (const c of ['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300', '08006', '08000']) expect(classifySqlstate(c)).toBe('retry');
    for (const c of ['22001', '22021', '22P02', '23505', '23514', '23503', '42703', '428C9', '44000', 'P0001', '21000']) expect(classifySqlstate(c)).toBe('poison');
    for (const c of ['XX000', '58030', '0A000', '25P02']) expect(classifySqlstate(c)).toBe('fatal');
  });
});

describe('classify', () => {
  // The CI failure of row 34: a writer whose drain overran closed its pools while a batch was
  // still retrying; the ended pool's error counted as fatal and 19 jobs failed through BullMQ.
  it('retries a flush on a pool this process has ended (a drain that overran): its jobs go to the next writer', async () => {
    const pool = createPool({ url: 'postgres://127.0.0.1:1/none', max: 1, connectTimeoutMs: 1000, statementTimeoutMs: 1000, applicationName: 'classify-test', log: createLogger('classify-test', 'silent') });
    await pool.end();
    const err = await pool.query('SELECT 1').then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(classify(err)).toBe('retry');
  });

  it('still calls an unknown error fatal', () => {
    expect(classify(new Error('a bug'))).toBe('fatal');
  });
});

/**
 * `pnpm sluice types` against a real gateway's OpenAPI document: the
 * generated module compiles, and with it the client type-checks calls
 * (tsc --noEmit over fixtures/typed-usage.ts, whose @ts-expect-error lines
 * must all be errors).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { generateTypes, tsType } from '../../client/src/cli/generate.ts';
import { startGateway, type TestGateway } from '../gateway/support.ts';

const run = promisify(execFile);
let gw: TestGateway;
let dir: string;

beforeAll(async () => {
  gw = await startGateway();
  dir = mkdtempSync(join(tmpdir(), 'sluice-types-'));
}, 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await gw?.close();
});

describe('pnpm sluice types', () => {
  it('writes row types that make the client check its calls (tsc --noEmit)', async () => {
    const doc = await (await gw.request('/openapi.json')).text();
    writeFileSync(join(dir, 'openapi.json'), doc);
    await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'client/src/cli/main.ts'), 'types', '--from', join(dir, 'openapi.json'), '--out', join(dir, 'tables.ts')], { cwd: REPO_ROOT });
    const generated = readFileSync(join(dir, 'tables.ts'), 'utf8');
    expect(generated).toContain('export type Tables = {');
    expect(generated).toMatch(/export interface EventsRow \{[^}]*\n {2}amount: number;/);
    expect(generated).toMatch(/export interface EventsInsert \{[^}]*\n {2}kind: string;[^}]*\n {2}id\?: number \| string;|export interface EventsInsert \{[^}]*\n {2}id\?: number \| string;[^}]*\n {2}kind: string;/);

    copyFileSync(join(REPO_ROOT, 'test/client/fixtures/typed-usage.ts'), join(dir, 'typed-usage.ts'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(REPO_ROOT, 'tsconfig.json'),
        compilerOptions: { baseUrl: dir, paths: { '@sluice/client': [join(REPO_ROOT, 'client/src/index.ts')] }, typeRoots: [join(REPO_ROOT, 'node_modules/@types')] },
        include: [join(dir, '*.ts')],
        exclude: [],
      }),
    );
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '--noEmit', '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
      () => ({ code: 0, out: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);

  it('maps the gateway\'s column schemas to read and write types', () => {
    const int8 = { oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^[+-]?\\d{1,19}$' }] };
    expect(tsType(int8, 'write')).toBe('number | string');
    expect(tsType(int8, 'read')).toBe('number'); // row_to_json renders int8 as a number
    expect(tsType({ anyOf: [{ type: 'string', format: 'uuid' }, { type: 'null' }] }, 'read')).toBe('string | null');
    expect(tsType({}, 'read')).toBe('JsonValue');
    expect(tsType({ not: {} }, 'write')).toBe('never');
    expect(tsType({ type: ['string', 'null'] }, 'write')).toBe('string | null');
    expect(tsType({ enum: ['a', 'b'] }, 'write')).toBe('"a" | "b"');
    expect(tsType({ type: 'array', items: { anyOf: [{ type: 'integer' }, { type: 'null' }] } }, 'read')).toBe('(number | null)[]');
  });

  it('keeps readOnly columns out of inserts and updates, and names tables the gateway sanitised', () => {
    const doc = {
      paths: { '/v1/tables/{table}': { post: { parameters: [{ name: 'table', in: 'path', schema: { enum: ['billing.in voices'] } }] } } },
      components: { schemas: { 'Row_billing.in_voices': { type: 'object', required: ['total'], properties: { id: { type: 'integer', readOnly: true }, total: { type: 'number' } } } } },
    };
    const text = generateTypes(doc, 'test');
    expect(text).toContain('"billing.in voices": { row: BillingInVoicesRow; insert: BillingInVoicesInsert; update: BillingInVoicesUpdate };');
    expect(text).toMatch(/interface BillingInVoicesRow \{\n {2}id: number;\n {2}total: number;\n\}/);
    expect(text).toMatch(/interface BillingInVoicesInsert \{\n {2}total: number;\n\}/);
  });

  it('types writes from Insert_/Update_ (the validator\'s shapes) and reads from Row_, json columns as JsonValue', () => {
    const doc = {
      components: {
        schemas: {
          Row_t: { type: 'object', 'x-sluice-table': 't', properties: { id: { type: 'integer' }, doc: {}, twice: { type: 'integer', readOnly: true } } },
          Insert_t: { type: 'object', required: ['doc'], properties: { id: { oneOf: [{ type: 'integer' }, { type: 'string' }] }, doc: { $ref: '#/components/schemas/JsonValue', not: { type: 'null' } } } },
          Update_t: { type: 'object', properties: { doc: { anyOf: [{ $ref: '#/components/schemas/JsonValue' }, { type: 'null' }] } } },
          JsonValue: { anyOf: [{ type: 'null' }, { type: 'array', items: { $ref: '#/components/schemas/JsonValue' } }] },
        },
      },
    };
    const text = generateTypes(doc, 'test');
    expect(text).toMatch(/interface TRow \{\n {2}id: number;\n {2}doc: JsonValue;\n {2}twice: number;\n\}/);
    expect(text).toMatch(/interface TInsert \{\n {2}id\?: number \| string;\n {2}doc: JsonValue;\n\}/);
    expect(text).toMatch(/interface TUpdate \{\n {2}doc\?: JsonValue \| null;\n\}/);
  });
});

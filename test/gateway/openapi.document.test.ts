/**
 * The OpenAPI document of a real gateway serving tables of every column
 * kind: Redocly's recommended rules find nothing; it names every route the
 * app serves (and nothing else), each operation with an id and a
 * problem+json answer for every error status; the gateway's real answers
 * validate against it; and the types openapi-typescript generates from it
 * type-check the README's examples.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';
import { SAMPLE_SQL, SAMPLE_TABLES, SAMPLE_VIEWS, sampleViewsDir } from '../../scripts/lib/openapi-sample.ts';
import { lintOpenApi } from '../../scripts/lib/redocly.ts';
import { createTestEnv } from '../harness/index.ts';
import { examplesSource, readmeCurls, templateOf } from './readme-examples.ts';
import { startGateway, type TestGateway } from './support.ts';

const run = promisify(execFile);
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
type Doc = { paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, { $ref?: string }> }>>; components: { responses: Record<string, { content: Record<string, unknown> }> } };

let gw: TestGateway;
let doc: Doc;
let dir: string;

beforeAll(async () => {
  const env = await createTestEnv({ sql: SAMPLE_SQL });
  gw = await startGateway({ testEnv: env, env: { SLUICE_TABLES: SAMPLE_TABLES.join(','), SLUICE_VIEWS_DIR: sampleViewsDir() } });
  doc = (await (await gw.request('/openapi.json')).json()) as Doc;
  dir = mkdtempSync(join(tmpdir(), 'sluice-openapi-'));
  writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc, null, 2));
}, 60_000);
afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await gw?.close();
});

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

describe('GET /openapi.json', () => {
  it('lints clean with Redocly CLI\'s recommended rules (no error, no warning)', async () => {
    const r = await lintOpenApi(join(dir, 'openapi.json'), 'json');
    const report = JSON.parse(r.output.slice(r.output.indexOf('{'), r.output.lastIndexOf('}') + 1)) as { totals: Record<string, number>; problems: { ruleId: string; message: string }[] };
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(r.code).toBe(0);
  }, 60_000);

  it('names every route the app serves, and only those', () => {
    const templates = Object.keys(doc.paths);
    const served = gw.gw.app.routes.filter((r) => METHODS.includes(r.method.toLowerCase()));
    const documented = (method: string, path: string) => {
      // Route parameters stand for any value: a table name, a key, `pause`/`resume`.
      const re = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`);
      return templates.filter((t) => re.test(t.replace(/\{[^}]+\}/g, 'x')) && doc.paths[t]![method] !== undefined);
    };
    for (const r of served) expect({ route: `${r.method} ${r.path}`, documented: documented(r.method.toLowerCase(), r.path).length > 0 }).toMatchObject({ documented: true });
    for (const [t, item] of Object.entries(doc.paths)) {
      for (const m of METHODS.filter((x) => item[x] !== undefined)) {
        const concrete = t.replace(/\{[^}]+\}/g, 'x');
        const match = served.some((r) => r.method.toLowerCase() === m && new RegExp(`^${r.path.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(concrete));
        expect({ operation: `${m} ${t}`, served: match }).toMatchObject({ served: true });
      }
    }
    for (const table of SAMPLE_TABLES) expect(templates).toContain(`/v1/tables/${encodeURIComponent(table)}`);
    for (const view of Object.keys(SAMPLE_VIEWS)) expect(templates).toEqual(expect.arrayContaining([`/v1/views/${view}`, `/v1/views/${view}/{key}`]));
    expect(templates).toContain('/v1/admin/views');
  });

  it('gives every operation an id and every error status a problem+json response', () => {
    const ids = new Set<string>();
    for (const [t, item] of Object.entries(doc.paths)) {
      for (const m of METHODS.filter((x) => item[x] !== undefined)) {
        const op = item[m]!;
        expect(op.operationId, `${m} ${t}`).toMatch(/^[A-Za-z0-9_]+$/);
        ids.add(op.operationId!);
        for (const [status, res] of Object.entries(op.responses ?? {})) {
          if (Number(status) < 400) continue;
          const name = res.$ref?.replace('#/components/responses/', '') ?? '';
          expect(Object.keys(doc.components.responses[name]?.content ?? {}), `${m} ${t} ${status}`).toEqual(['application/problem+json']);
        }
      }
    }
    expect(ids.size).toBe(Object.values(doc.paths).reduce((n, item) => n + METHODS.filter((x) => item[x] !== undefined).length, 0));
  });

  it('describes what the gateway really answers (Ajv against the document\'s schemas)', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc as object, 'doc');
    const check = (schema: string, value: unknown) => {
      const v = ajv.getSchema(`doc#/components/schemas/${schema}`)!;
      expect({ schema, valid: v(value), errors: v.errors ?? null }).toEqual({ schema, valid: true, errors: null });
    };
    const row = { id: '0b2c5b3e-8f4a-4c1e-9d1a-1a2b3c4d5e6f', b: true, i2: 7, i8: '9007199254740993', f4: 1.5, f8: 'NaN', n: '12.34', t: 'x', vc: 'abc', ch: 'ab', j: [1], jb: { a: null }, ts: '2025-01-31T12:00:00', tstz: '2025-01-31T12:00:00Z', d: '2025-01-31', tm: '12:30', ttz: '12:30+02', by: 'AAEC' };
    check('Insert_kinds', row);
    const queued = await gw.post('/v1/tables/kinds', row);
    expect(queued.status).toBe(202);
    check('Queued', await queued.json());
    // No writer runs beside this gateway: the row goes in the way the writer would put it.
    const cols = Object.keys(row);
    const values = Object.values(row).map((v) => (typeof v === 'object' ? JSON.stringify(v) : v === 'AAEC' ? Buffer.from('AAEC', 'base64') : v));
    await gw.env.pool.query(`INSERT INTO kinds (${cols.join(', ')}, pt) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}, point(1, 2))`, values);
    const read = await gw.request(`/v1/tables/kinds/${row.id}`);
    expect(read.status).toBe(200);
    check('Row_kinds', await read.json());
    const page = await gw.request('/v1/tables/kinds?select=*');
    check('Row_kinds', ((await page.json()) as unknown[])[0]);
    const problem = await gw.post('/v1/tables/kinds', { id: 'nope' });
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
    check('Problem', await problem.json());
  }, 60_000);
});

describe('a client generated by openapi-typescript', () => {
  it('type-checks the README\'s examples (paths, methods, query parameters, bodies)', async () => {
    const cli = join(REPO_ROOT, 'test/node_modules/openapi-typescript/bin/cli.js');
    await run(process.execPath, [cli, join(dir, 'openapi.json'), '--output', join(dir, 'api.ts')], { cwd: dir });
    const examples = readmeCurls();
    expect(examples.length).toBeGreaterThan(15);
    const undocumented = examples.filter((e) => templateOf(Object.keys(doc.paths), e.path) === undefined).map((e) => `${e.method} ${e.path}`);
    expect(undocumented).toEqual([]);
    writeFileSync(join(dir, 'readme-examples.ts'), examplesSource(examples, Object.keys(doc.paths)));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', allowImportingTsExtensions: true, skipLibCheck: true, types: [] }, include: ['*.ts'] }));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
      () => ({ code: 0, out: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);
});

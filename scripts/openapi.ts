// `pnpm openapi [lint] [--url URL] [--out FILE]`: the gateway's OpenAPI
// document, from a running gateway (--url) or built from the sample tables
// (scripts/lib/openapi-sample.ts) on a private Postgres; `lint` runs Redocly
// CLI's recommended rules over it and exits with the linter's code (CI).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { introspectCatalog } from '@sluice/shared/catalog/introspect.ts';
import { createPool } from '@sluice/shared/db/pool.ts';
import { createLogger } from '@sluice/shared/log/index.ts';
import { indexedColumns } from '@sluice/shared/read/rows.ts';
import { openApiDocument } from '@sluice/gateway/openapi/document.ts';
import { startPostgres } from '@sluice/local-servers/postgres.ts';
import { lintOpenApi } from './lib/redocly.ts';
import { SAMPLE_SQL, SAMPLE_TABLES, sampleViewsDir } from './lib/openapi-sample.ts';
import { loadViewDefinitions, viewTableInfo } from '@sluice/shared/views/definitions.ts';

const USAGE = `usage: pnpm openapi [lint] [--url URL] [--out FILE]

  (no command)   write the document (to --out, else stdout)
  lint           lint it with Redocly CLI (redocly.yaml: the recommended rules); exit 1 on errors
  --url URL      take it from a gateway's GET /openapi.json (default: build it from
                 the sample tables on a private Postgres)
`;

const { values: o, positionals } = parseArgs({ allowPositionals: true, options: { url: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } } });

/** The document built from the sample tables, as a gateway serving them would. */
async function sampleDocument(): Promise<object> {
  const log = createLogger('openapi', 'warn');
  const pg = await startPostgres({ fsync: false });
  const pool = createPool({ url: pg.url, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 15_000, applicationName: 'sluice-openapi', log });
  pool.on('error', () => {});
  try {
    await pool.query(SAMPLE_SQL);
    const catalog = await introspectCatalog(pool, SAMPLE_TABLES);
    const indexed = new Map<string, string[]>();
    for (const t of catalog.values()) indexed.set(t.name, (await indexedColumns(pool, t)).map((c) => c.name));
    const views = (await loadViewDefinitions(sampleViewsDir(), catalog)).map(viewTableInfo);
    return openApiDocument({ catalog, indexed: (t) => indexed.get(t) ?? [], version: '0.1.0', views });
  } finally {
    await pool.end();
    await pg.destroy();
  }
}

async function document(): Promise<object> {
  if (o.url === undefined) return sampleDocument();
  const res = await fetch(new URL('/openapi.json', o.url));
  if (!res.ok) throw new Error(`GET ${o.url}/openapi.json: ${res.status}`);
  return (await res.json()) as object;
}

async function main(): Promise<number> {
  const command = positionals[0];
  if (o.help === true || (command !== undefined && command !== 'lint')) {
    process.stdout.write(USAGE);
    return o.help === true ? 0 : 2;
  }
  const text = `${JSON.stringify(await document(), null, 2)}\n`;
  if (command !== 'lint') {
    if (o.out === undefined) process.stdout.write(text);
    else writeFileSync(o.out, text);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sluice-openapi-'));
  const file = o.out ?? join(dir, 'openapi.json');
  writeFileSync(file, text);
  const r = await lintOpenApi(file);
  process.stdout.write(r.output);
  rmSync(dir, { recursive: true, force: true });
  return r.code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

/**
 * The HTTP examples of the README (its `curl` lines against the gateway),
 * turned into TypeScript that must compile against the types a standard
 * generator (openapi-typescript) made from the OpenAPI document: every
 * example's path and method exist, its query parameters are declared, its
 * JSON body has the declared shape.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@sluice/local-servers/processes.ts';

/** One `curl` example. */
export interface CurlExample {
  line: number;
  method: string;
  path: string;
  query: string[];
  body: unknown;
}

/** `curl … localhost:3000/v1/…` commands of the README's sh blocks (continuation lines joined). */
export function readmeCurls(): CurlExample[] {
  const lines = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').split('\n');
  const out: CurlExample[] = [];
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('```')) inSh = lines[i] === '```sh';
    if (!inSh || !/^\s*curl /.test(lines[i]!) || !lines[i]!.includes('localhost:3000/v1/')) continue;
    let cmd = lines[i]!;
    // A -d '…' body may span lines; so may a command ending in a backslash.
    while (i + 1 < lines.length && (cmd.trimEnd().endsWith('\\') || (cmd.split("'").length - 1) % 2 === 1)) cmd = `${cmd.trimEnd().replace(/\\$/, '')}\n${lines[++i]}`;
    out.push(parseCurl(cmd, i + 1));
  }
  return out;
}

function parseCurl(cmd: string, line: number): CurlExample {
  const url = /'?localhost:3000(\/v1\/[^\s']*)'?/.exec(cmd)![1]!;
  const [path, qs = ''] = url.split('?');
  const body = /\s-d '([^']*)'/.exec(cmd)?.[1];
  const explicit = /-X (\w+)/.exec(cmd)?.[1];
  const method = (explicit ?? (body !== undefined ? 'POST' : 'GET')).toLowerCase();
  const query = qs === '' ? [] : qs.split('&').map((kv) => kv.split('=')[0]!);
  return { line, method, path: path!, query, body: body === undefined ? undefined : (JSON.parse(body) as unknown) };
}

/** The document path template that `path` is an instance of. */
export function templateOf(paths: readonly string[], path: string): string | undefined {
  const re = (t: string) => new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
  // Concrete paths win over templated ones (OpenAPI 3.1 §4.8.8.2).
  return paths.find((t) => t === path) ?? paths.find((t) => re(t).test(path));
}

/** TypeScript checking each example against `paths` of the generated module `./api.ts`. */
export function examplesSource(examples: readonly CurlExample[], templates: readonly string[]): string {
  const out = [
    "import type { paths } from './api.ts';",
    '// openapi-typescript declares every method of a path item, `never` where the document has none.',
    'type Has<P extends keyof paths, M extends string> = M extends keyof paths[P] ? ([NonNullable<paths[P][M]>] extends [never] ? false : true) : false;',
    'type OpOf<P extends keyof paths, M extends string> = M extends keyof paths[P] ? NonNullable<paths[P][M]> : never;',
    "type BodyOf<P extends keyof paths, M extends string> = OpOf<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;",
    'type QueryOf<P extends keyof paths, M extends string> = OpOf<P, M> extends { parameters: { query?: infer Q } } ? keyof NonNullable<Q> : never;',
  ];
  examples.forEach((e, i) => {
    const pm = `${JSON.stringify(templateOf(templates, e.path) ?? e.path)}, '${e.method}'`;
    out.push(`// README.md:${e.line} ${e.method.toUpperCase()} ${e.path}`, `export const route${i}: Has<${pm}> = true;`);
    e.query.forEach((q, j) => out.push(`export const query${i}_${j}: QueryOf<${pm}> = ${JSON.stringify(q)};`));
    if (e.body !== undefined) out.push(`export const body${i}: BodyOf<${pm}> = ${JSON.stringify(e.body)};`);
  });
  return `${out.join('\n')}\n`;
}

#!/usr/bin/env node
/**
 * `pnpm sluice <command>`, over a running gateway (SLUICE_URL or
 * http://localhost:3000; SLUICE_API_KEY, or --url / --api-key):
 *
 *   types [--from openapi.json] [--out FILE]   row types of the exposed tables, from GET /openapi.json
 *   shards …                                   shards, key ranges and moves (shards.ts)
 *   views [verify NAME]                        read models: state, and a recompute-and-compare (views.ts)
 *   status [--json]                            partitions, backlog, writers, replicas, dead letters, rates (status.ts)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { generateTypes, rowSchemas } from './generate.ts';
import { option } from './http.ts';
import { SHARDS_USAGE, shardsCommand } from './shards.ts';
import { VIEWS_USAGE, viewsCommand } from './views.ts';
import { STATUS_USAGE, statusCommand } from './status.ts';

const USAGE = `usage: sluice types [--url URL] [--api-key KEY] [--from openapi.json] [--out FILE]\n       ${SHARDS_USAGE.replace('usage: ', '')}       ${VIEWS_USAGE.replace('usage: ', '')}       ${STATUS_USAGE.replace('usage: ', '')}\n`;

async function loadDocument(args: string[]): Promise<{ doc: unknown; source: string }> {
  const from = option(args, 'from');
  if (from !== undefined) return { doc: JSON.parse(readFileSync(from, 'utf8')), source: from };
  const base = option(args, 'url') ?? process.env.SLUICE_URL ?? 'http://localhost:3000';
  const key = option(args, 'api-key') ?? process.env.SLUICE_API_KEY;
  const url = `${base.replace(/\/$/, '')}/openapi.json`;
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {}, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return { doc: await res.json(), source: url };
}

async function main(args: string[]): Promise<number> {
  if (args[0] === 'shards' && !args.includes('--help')) return shardsCommand(args);
  if (args[0] === 'views' && !args.includes('--help')) return viewsCommand(args);
  if (args[0] === 'status' && !args.includes('--help')) return statusCommand(args);
  if (args[0] !== 'types' || args.includes('--help')) {
    process.stderr.write(USAGE);
    return args.includes('--help') ? 0 : 2;
  }
  const { doc, source } = await loadDocument(args);
  const tables = rowSchemas(doc);
  if (tables.length === 0) throw new Error(`${source} describes no table rows (components.schemas.Row_*)`);
  const text = generateTypes(doc, source);
  const out = option(args, 'out');
  if (out === undefined) process.stdout.write(text);
  else {
    writeFileSync(out, text);
    process.stderr.write(`wrote ${out}: ${tables.map((t) => t.table).join(', ')}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`sluice: ${err.message}\n`);
    process.exit(1);
  },
);

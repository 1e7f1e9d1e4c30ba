// Runs one compiled entry point of `pnpm build` in this process, or says
// what is missing. Plain JavaScript on purpose: it must work where nothing
// is built yet and tsx is absent (a production install). package.json uses it:
//   node --conditions=sluice-dist scripts/run-built.mjs gateway/dist/main.js
// Supervisors (containers, systemd) run the entry itself, without pnpm:
//   node --conditions=sluice-dist gateway/dist/main.js
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CONDITION = 'sluice-dist'; // local-servers/src/processes.ts DIST_CONDITION
/** What each build output is compiled from (the tsconfig.build.json files). */
const SOURCES = { shared: ['shared/src'], writer: ['writer/src'], gateway: ['gateway/src'], 'local-servers': ['local-servers/src'], scripts: ['scripts/start.ts', 'scripts/lib'] };

function fail(msg) {
  process.stderr.write(`sluice: ${msg}\n`);
  process.exit(1);
}

/** Newest modification time of `path` or the .ts files under it (0 when absent). */
function newestTs(path) {
  if (!existsSync(path)) return 0;
  if (!statSync(path).isDirectory()) return statSync(path).mtimeMs;
  let newest = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const entry = process.argv[2];
if (!entry) fail('usage: node --conditions=sluice-dist scripts/run-built.mjs <package>/dist/<file>.js');
if (!process.execArgv.includes(`--conditions=${CONDITION}`)) fail(`run with node --conditions=${CONDITION}: without it @sluice/* resolves to the TypeScript sources`);
const file = join(ROOT, entry);
if (!existsSync(file)) fail(`${entry} does not exist: run \`pnpm build\` first (production commands run the compiled JavaScript, not the sources)`);
// A checkout where sources changed after the last build: say so (an image has no sources to compare).
for (const [pkg, sources] of Object.entries(SOURCES)) {
  const info = join(ROOT, pkg, 'dist', '.tsbuildinfo');
  if (existsSync(info) && Math.max(...sources.map((s) => newestTs(join(ROOT, s)))) > statSync(info).mtimeMs) {
    process.stderr.write(`sluice: warning: ${pkg} changed since the last build; run \`pnpm build\` to run the current code\n`);
  }
}
process.argv.splice(2, 1); // the entry sees the arguments it would see when run directly
await import(pathToFileURL(file).href);

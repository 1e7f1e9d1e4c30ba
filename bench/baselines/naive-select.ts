/**
 * Read baseline (b): the naive read path Sluice's misses compete with: a Hono
 * GET doing one Postgres primary-key lookup per request (prepared,
 * `row_to_json`, a pool as large as Sluice's default).
 *
 *   tsx bench/baselines/naive-select.ts <port> <postgres-url> [pool-max]
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';

const port = Number(process.argv[2] ?? 3112);
const pool = new pg.Pool({ connectionString: process.argv[3], max: Number(process.argv[4] ?? 4) });
pool.on('error', () => {});
const text = 'SELECT row_to_json(r.*)::text AS j FROM bench_kv r WHERE r.id = $1::integer';
const app = new Hono();
app.get('/v1/tables/:table/:key', async (c) => {
  const { rows } = await pool.query<{ j: string }>({ name: 'get', text, values: [c.req.param('key')] });
  if (rows.length === 0) return c.json({ error: 'missing' }, 404);
  c.header('Content-Type', 'application/json');
  return c.body(rows[0]!.j);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

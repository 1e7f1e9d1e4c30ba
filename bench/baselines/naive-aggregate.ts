/**
 * Read baseline for read models: the aggregate a view keeps, computed per
 * request instead (a Hono GET running the view's `GROUP BY` over one user's
 * events: prepared, `row_to_json`, a pool as large as Sluice's default).
 *
 *   tsx bench/baselines/naive-aggregate.ts <port> <postgres-url> [pool-max]
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';

const port = Number(process.argv[2] ?? 3113);
const pool = new pg.Pool({ connectionString: process.argv[3], max: Number(process.argv[4] ?? 4) });
pool.on('error', () => {});
const text = `SELECT row_to_json(r.*)::text AS j FROM (
  SELECT user_id, count(*) AS events, sum(amount) AS total, max(created_at) AS last_at
    FROM bench_events WHERE user_id = $1::integer GROUP BY user_id) r`;
const app = new Hono();
app.get('/v1/views/:view/:key', async (c) => {
  const { rows } = await pool.query<{ j: string }>({ name: 'agg', text, values: [c.req.param('key')] });
  if (rows.length === 0) return c.json({ error: 'missing' }, 404);
  c.header('Content-Type', 'application/json');
  return c.body(rows[0]!.j);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

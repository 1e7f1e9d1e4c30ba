/**
 * Read baselines: the naive read path, a Hono GET doing one Postgres query per
 * request (prepared, `row_to_json`, a pool as large as Sluice's default).
 *
 *   GET /v1/tables/:table/:key   (b)  one primary-key lookup in bench_kv: what Sluice's misses compete with
 *   GET /v1/views/:view/:key     (g1) the aggregate a read model keeps, computed per request instead:
 *                                     `GROUP BY` over one user's events in bench_events
 *
 *   tsx bench/baselines/naive-select.ts <port> <postgres-url> [pool-max]
 */
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import pg from 'pg';

const port = Number(process.argv[2] ?? 3112);
const pool = new pg.Pool({ connectionString: process.argv[3], max: Number(process.argv[4] ?? 4) });
pool.on('error', () => {});

const ROW = 'SELECT row_to_json(r.*)::text AS j FROM bench_kv r WHERE r.id = $1::integer';
const USER_STATS = `SELECT row_to_json(r.*)::text AS j FROM (
  SELECT user_id, count(*) AS events, sum(amount) AS total, max(created_at) AS last_at
    FROM bench_events WHERE user_id = $1::integer GROUP BY user_id) r`;

/** One JSON row from a prepared query of the key, or 404. */
const answer = (name: string, text: string) => async (c: Context) => {
  const { rows } = await pool.query<{ j: string }>({ name, text, values: [c.req.param('key')] });
  if (rows.length === 0) return c.json({ error: 'missing' }, 404);
  c.header('Content-Type', 'application/json');
  return c.body(rows[0]!.j);
};

const app = new Hono();
app.get('/v1/tables/:table/:key', answer('get', ROW));
app.get('/v1/views/:view/:key', answer('agg', USER_STATS));
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

/**
 * Baseline (b): the naive write path Sluice replaces: a Hono endpoint doing
 * one INSERT (one transaction) per request through a pg Pool. It reads the
 * body as the bare baseline does (read-body.ts), so the two differ only by
 * the INSERT.
 *
 *   tsx bench/baselines/naive-insert.ts <port> <postgres-url>
 */
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';
import { readBody } from './read-body.ts';

const port = Number(process.argv[2] ?? 3102);
const pool = new pg.Pool({ connectionString: process.argv[3], max: 16 });
pool.on('error', () => {});
const app = new Hono<{ Bindings: HttpBindings }>();
app.post('/v1/tables/bench_events', async (c) => {
  const row = JSON.parse((await readBody(c.env.incoming)).toString('utf8')) as { kind: string; amount: number; payload: unknown };
  await pool.query('INSERT INTO bench_events (kind, amount, payload) VALUES ($1, $2, $3)', [row.kind, row.amount, JSON.stringify(row.payload)]);
  return c.json({ ok: true }, 201);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

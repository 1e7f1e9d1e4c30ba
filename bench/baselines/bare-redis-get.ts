/**
 * Read baseline (a): a bare Hono GET doing one ioredis GET (auto-pipelined,
 * like Sluice's cache connection), and a multi-get `?key=in.(…)` doing one
 * MGET. The ceiling for a cached read; Sluice cache hits are compared to it.
 *
 *   tsx bench/baselines/bare-redis-get.ts <port> <redis-url>
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

const port = Number(process.argv[2] ?? 3111);
const redis = new Redis(process.argv[3] ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true });
const app = new Hono();
app.get('/v1/tables/:table/:key', async (c) => {
  const v = await redis.get(`bench:${c.req.param('table')}:${c.req.param('key')}`);
  if (v === null) return c.json({ error: 'missing' }, 404);
  c.header('Content-Type', 'application/json');
  return c.body(v);
});
app.get('/v1/tables/:table', async (c) => {
  const list = /^in\.\((.*)\)$/.exec(c.req.query('key') ?? '');
  if (list === null) return c.json({ error: 'key=in.(…) expected' }, 400);
  const values = await redis.mget(list[1]!.split(',').map((k) => `bench:${c.req.param('table')}:${k}`));
  c.header('Content-Type', 'application/json');
  return c.body(`{"rows":[${values.map((v) => v ?? 'null').join(',')}]}`);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

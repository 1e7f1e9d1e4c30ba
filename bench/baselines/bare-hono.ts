/**
 * Baseline (a): a bare Hono POST endpoint that only parses JSON and answers
 * 202. The ceiling for any gateway on this runtime; Sluice queued is compared to it.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const port = Number(process.argv[2] ?? 3101);
const app = new Hono();
app.post('/v1/tables/:table', async (c) => {
  const body: unknown = await c.req.json();
  return c.json({ ok: body !== undefined }, 202);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

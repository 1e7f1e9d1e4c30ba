/**
 * Baseline (a): a bare Hono POST endpoint that does no work: it reads the
 * body (as the gateway does, see read-body.ts) and parses it as JSON, then
 * answers 202 with a small JSON body. The ceiling for any gateway on this
 * runtime; Sluice `queued` is compared to it.
 *
 *   tsx bench/baselines/bare-hono.ts <port>
 */
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { readBody } from './read-body.ts';

const port = Number(process.argv[2] ?? 3101);
const app = new Hono<{ Bindings: HttpBindings }>();
app.post('/v1/tables/:table', async (c) => {
  const body: unknown = JSON.parse((await readBody(c.env.incoming)).toString('utf8'));
  return c.json({ ok: body !== undefined }, 202);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

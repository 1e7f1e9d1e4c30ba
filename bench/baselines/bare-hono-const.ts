/**
 * Baseline of `pnpm bench flags`: a bare Hono server answering a constant in
 * the shapes of the flag evaluation routes — `GET /v1/flags/{name}` (query
 * read, nothing computed) and `POST /v1/flags/evaluate` (the body read and
 * parsed as the gateway does, see read-body.ts, then a constant answer). The
 * ceiling for flag evaluation on this runtime.
 *
 *   tsx bench/baselines/bare-hono-const.ts <port>
 */
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { readBody } from './read-body.ts';

const port = Number(process.argv[2] ?? 3102);
const ONE = { name: 'bench-flag', enabled: true, version: 1, reason: 'rollout-in' };
const app = new Hono<{ Bindings: HttpBindings }>();
/** The bulk answer for the bench's ten flags: the same size as the gateway's. */
const BULK = { version: 1, flags: Array.from({ length: 10 }, (_, i) => ({ ...ONE, name: `bench-flag-${i}` })) };
app.get('/v1/flags/:name', (c) => c.json(ONE));
app.post('/v1/flags/evaluate', async (c) => {
  JSON.parse((await readBody(c.env.incoming)).toString('utf8'));
  return c.json(BULK);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

/**
 * Baseline (a): a bare Hono POST endpoint that does no work: it reads the
 * body and parses it as JSON, then answers 202 with a small JSON body. The
 * ceiling for any gateway on this runtime; Sluice `queued` is compared to it.
 *
 * The body is read from Node's request (`c.env.incoming`), as the gateway
 * reads it: `c.req.json()` would make @hono/node-server build a Fetch
 * Request and stream, which alone costs more CPU than the rest of this
 * handler and would make the baseline, not the gateway, the slow one.
 *
 *   tsx bench/baselines/bare-hono.ts <port>
 */
import type { IncomingMessage } from 'node:http';
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const port = Number(process.argv[2] ?? 3101);
const app = new Hono<{ Bindings: HttpBindings }>();
app.post('/v1/tables/:table', async (c) => {
  const body: unknown = JSON.parse((await readBody(c.env.incoming)).toString('utf8'));
  return c.json({ ok: body !== undefined }, 202);
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => process.stdout.write(`listening ${port}\n`));

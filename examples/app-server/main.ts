/**
 * An app server that writes through Sluice and reads its own writes.
 *
 *   pnpm dev                                   # Sluice on :3000 with the demo table `events`
 *   pnpm exec tsx examples/app-server/main.ts  # this server on :8080
 *   curl -si localhost:8080/events -H 'content-type: application/json' -d '{"kind":"signup"}' -c jar
 *   curl -si localhost:8080/events/1 -b jar    # sees the write at once, from any gateway or replica
 *
 * POST /events waits for the commit (ack "committed") and answers with the
 * stored row; the user's consistency token travels in a cookie, so their
 * next request reads at least as fresh as their last write.
 */
import http from 'node:http';
import { SluiceClient, SluiceError, SluiceProblemError } from '@sluice/client';
import type { Tables } from './tables.ts';

const sluice = new SluiceClient<Tables>({ url: process.env.SLUICE_URL ?? 'http://localhost:3000', apiKey: process.env.SLUICE_API_KEY });
const port = Number(process.env.PORT ?? 8080);

function reply(res: http.ServerResponse, status: number, body: unknown, token?: string): void {
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
  if (token) headers['set-cookie'] = `sluice_token=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Lax`;
  res.writeHead(status, headers).end(JSON.stringify(body));
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const token = /(?:^|;\s*)sluice_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  const session = sluice.session(token ? { token: decodeURIComponent(token) } : {});
  const id = /^\/events\/(\d+)$/.exec(req.url ?? '')?.[1];
  if (req.method === 'POST' && req.url === '/events') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const { kind } = JSON.parse(body) as { kind: string };
    const done = await session.insert('events', { kind, payload: { via: 'example' } }, { ack: 'committed' });
    const row = await session.get('events', String(done.keys[0]!.id)); // read-your-writes: never stale
    return reply(res, 201, row, session.token);
  }
  if (req.method === 'GET' && id !== undefined) {
    const row = await session.get('events', id);
    return reply(res, row === null ? 404 : 200, row ?? { error: 'no such event' }, session.token);
  }
  reply(res, 404, { error: 'POST /events or GET /events/{id}' });
}

http
  .createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Sluice's problem details pass through; an outcome 'unknown' write may still apply (once).
      if (err instanceof SluiceProblemError) return reply(res, err.status >= 500 ? 503 : err.status, err.problem);
      if (err instanceof SluiceError) return reply(res, 503, { error: err.message, outcome: err.outcome, writeId: err.writeId });
      reply(res, 400, { error: (err as Error).message });
    });
  })
  .listen(port, () => process.stdout.write(`example app listening on http://localhost:${port}\n`));

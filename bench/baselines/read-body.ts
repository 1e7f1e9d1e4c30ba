import type { IncomingMessage } from 'node:http';

/**
 * A request body from Node's request (`c.env.incoming` under
 * @hono/node-server), as the gateway reads it. The write baselines use it
 * rather than `c.req.json()`, which makes the adapter build a Fetch Request
 * and stream and, measured here, costs about 4× the rest of a bare handler:
 * the baselines would be slow for a reason Sluice does not share.
 */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

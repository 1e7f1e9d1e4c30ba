import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { TableValidator } from '@sluice/shared/catalog/validate.ts';
import type { Principal } from './middleware/auth/principal.ts';

/**
 * The Hono environment of the gateway. Under `@hono/node-server` the bindings
 * hold Node's `incoming`/`outgoing`; under `app.request()` (tests) they are
 * absent, and the helpers below fall back to the Fetch API objects.
 */
export interface GatewayEnv {
  Bindings: Partial<HttpBindings> | undefined;
  Variables: {
    requestId: string;
    principal: Principal;
    /** The parsed JSON body (middleware/body). */
    body: unknown;
    /** The table of a `/v1/tables/{table}` route, after the allowlist and scope checks. */
    table: TableValidator;
  };
}

/** The handler context of every gateway route. */
export type Ctx = Context<GatewayEnv>;

/**
 * A request header by lower-case name. Node's own header object is read when
 * there is one: Hono's `c.req.header()` would first build a Fetch `Headers`
 * copy of every header, per request.
 */
export function header(c: Ctx, name: string): string | undefined {
  const incoming = c.env?.incoming;
  if (incoming === undefined) return c.req.header(name);
  const v = incoming.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Set a response header. On Node it goes straight to the ServerResponse
 * (`writeHead` merges it), which keeps Hono's response on its fast path of
 * one plain header object.
 */
export function setHeader(c: Ctx, name: string, value: string): void {
  const outgoing = c.env?.outgoing;
  if (outgoing !== undefined && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}

import type { MiddlewareHandler } from 'hono';
import { header, setHeader, type GatewayEnv } from '../../context.ts';

/** Options of `requestId`. */
export interface RequestIdOptions {
  /** Prefix of generated ids (the node id): unique across gateways without a random draw per request. */
  prefix: string;
  /** Longest client-supplied id echoed back; longer or odd ones are replaced. */
  maxLength?: number;
}

/**
 * `X-Request-Id`: echo a sane client id (so a client can correlate its logs),
 * otherwise generate `<node>-<counter>`. Every response and every problem
 * document carries it.
 */
export function requestId(o: RequestIdOptions): MiddlewareHandler<GatewayEnv> {
  const max = o.maxLength ?? 128;
  const safe = new RegExp(`^[A-Za-z0-9._:-]{1,${max}}$`);
  const prefix = `${o.prefix}-`;
  let seq = 0;
  return async function requestId(c, next) {
    const given = header(c, 'x-request-id');
    const id = given !== undefined && safe.test(given) ? given : prefix + (++seq).toString(36);
    c.set('requestId', id);
    setHeader(c, 'X-Request-Id', id);
    return next();
  };
}
